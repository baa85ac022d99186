"""Reranking the retriever's candidates with a cross-encoder (issue 14; Sanz-Cruzado & Lever, BioNLP 2025).

A bi-encoder (``lib.formats``) proposes C candidate concepts per lay term (:mod:`~lib.rerank.candidates`);
one small encoder under a 2-class head read at [MASK] positions rescores them, either one input per
(term, candidate) pair (*base*) or all C candidates of a term in one input, one [MASK] each (*packed*;
:mod:`~lib.rerank.inputs`). Training data never holds an evaluated lay term (:mod:`~lib.rerank.data`);
:mod:`~lib.rerank.train` trains either layout with per-[MASK] BCE or a listwise softmax,
:mod:`~lib.rerank.onnx` exports and quantizes it through ``lib.compress``, :mod:`~lib.rerank.evaluate`
scores rerankings (Acc@1 / MRR, the Acc@C ceiling, order sensitivity, the INT8 gate) and
:mod:`~lib.rerank.pipeline` ties them together for notebooks 04 and 12.

Module imports stay cheap: torch, transformers and onnxruntime are imported inside functions.
"""
