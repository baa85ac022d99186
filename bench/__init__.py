"""The benchmark (``make bench``, ``python bench/run.py``): outside lib, so editing it never makes a
notebook's result stale. It imports lib; lib never imports it (tests/test_layers.py).

Modules: ``run`` (the runner), ``engines`` (engine list, worker-side builds, IPEX configs, the
sentence-transformers peer's export recipe), ``protocol`` (the worker pipe, both sides), ``quality``
(texts, cosine, Acc@1, our best INT8), ``search`` (exact top-k timings in child processes), ``report``
(bench.md and the figures); worker scripts ``worker``, ``st_worker``, ``ipex_worker``, ``st_export``.
"""
