"""Reranking the retriever's candidates with a residual cross-encoder (issues 14 and 23; Sanz-Cruzado &
Lever, BioNLP 2025).

A bi-encoder proposes C candidate concepts per lay term (:mod:`~lib.rerank.candidates`); the reranker's
score is ``w x retriever cosine + f(term, candidate)``, f a cross-encoder (:mod:`lib.engines.cross`) whose
head starts at zero, so it starts at the retriever's order. Inputs come in three layouts over one row
format (:mod:`~lib.rerank.inputs`): *base*, *shared-prefix* (base's function, the term computed once) and
the paper's packed one. Training lists come from a miner that never trained on the queries, with no
evaluated lay string and no dev query (:mod:`~lib.rerank.data`); :mod:`~lib.rerank.train` trains base
through sentence-transformers' ``CrossEncoderTrainer`` and the paper's layout in a plain loop;
:mod:`~lib.rerank.model` scores through any engine (PyTorch, or the one ONNX Runtime engine of
:mod:`lib.formats`, whose recipes export and quantize rerankers like encoders); :mod:`~lib.rerank.evaluate`
scores rerankings and gates INT8 with the project's one gate rule; :mod:`~lib.rerank.pipeline` ties them
together for notebook 04 and :mod:`~lib.rerank.study` runs notebook 12's study.

Module imports stay cheap: torch, transformers and sentence-transformers are imported inside functions.
"""
