"""The paper's tables and the summary (Tables 1-3, DEFT tables, training rows, README sections), built
from typed result records (:mod:`lib.results`).
"""
