"""Search-optimized quantization in biomedical ontology alignment: the compendium's library.

Subpackages are layers, bottom to top (``docs/ARCHITECTURE.md``; ``tests/test_layers.py`` enforces it):
foundations (``errors``, ``paths``, ``atomic``, ``text``, ``fingerprint``, ``params``, ``results``);
``data`` (tiers, loaders, sharded store), ``evaluate`` (metrics on arrays), ``plots`` (one function
per figure); ``engines`` (model resolution, PyTorch and ONNX Runtime engines, embedding cache);
``perf`` (timing, memory, energy, size); ``compress`` (ONNX export, calibration, dynamic and
SmoothQuant INT8, Olive); ``formats`` (format -> builder + engine); ``search`` (exact top-k,
alignment); ``gate`` and ``analysis`` (outliers, ratings, DEFT runs); ``report`` (result files,
tables, paper tables).
"""

__version__ = "0.1.0"

from lib import quiet as _quiet  # noqa: E402  (known third-party noise silenced by exact message: lib/quiet.py)

_quiet.install()
