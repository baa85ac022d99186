"""Exact cosine top-k over L2-normalised vectors, blocked so memory stays bounded.
"""

from __future__ import annotations

import numpy as np


def topk(queries: np.ndarray, targets: np.ndarray, k: int = 10, block: int = 65536,
         query_block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product: (scores, indices), each (n_queries, k), best first.

    No targets is an error here: the (n_queries, 0) result would only fail later, far from the cause.
    """
    if len(targets) == 0:
        raise ValueError(f"topk: no targets to search ({len(queries)} queries)")
    import torch

    q_all = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    t_all = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
    n_t = t_all.shape[0]
    k_eff = min(k, n_t)
    out_s = np.empty((q_all.shape[0], k_eff), dtype=np.float32)
    out_i = np.empty((q_all.shape[0], k_eff), dtype=np.int64)
    with torch.inference_mode():
        for qs in range(0, q_all.shape[0], query_block):
            q = q_all[qs:qs + query_block]
            best_s = torch.full((q.shape[0], k_eff), -torch.inf)
            best_i = torch.zeros((q.shape[0], k_eff), dtype=torch.int64)
            for ts in range(0, n_t, block):
                s = q @ t_all[ts:ts + block].T
                kk = min(k_eff, s.shape[1])
                bs, bi = torch.topk(s, kk, dim=1)
                cat_s = torch.cat([best_s, bs], dim=1)
                cat_i = torch.cat([best_i, bi + ts], dim=1)
                best_s, pos = torch.topk(cat_s, k_eff, dim=1)
                best_i = torch.gather(cat_i, 1, pos)
            out_s[qs:qs + len(q)] = best_s.numpy()
            out_i[qs:qs + len(q)] = best_i.numpy()
    return out_s, out_i
