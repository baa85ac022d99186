"""Metrics: retrieval (alignment Acc@k, MRR, agreement between formats) and DEFT 2020 tasks."""
