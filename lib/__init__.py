"""Search-optimized quantization in biomedical ontology alignment: the compendium's library.

Modules by concern: ``paths`` (folders), ``params`` (the one schema), ``data`` (three data tiers),
``text`` (cleaning), ``encode`` (models and embeddings), ``optimize`` (Olive), ``quantize`` (INT8),
``align`` (top-k search), ``evaluate`` (metrics), ``report`` (result files and tables), ``plots``.
"""

__version__ = "0.1.0"
