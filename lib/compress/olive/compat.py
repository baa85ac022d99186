"""Version-guarded fixes for Olive 0.13 bugs that block a TPE search with a custom metric.

Each patch is applied only when ``olive-ai`` is 0.13.* (other versions are left untouched: a newer
Olive either fixed the bug, and the shim is not needed, or changed the code, and the shim would be
wrong). ``tests/test_optimize.py`` checks for each bug that the unpatched code still fails (so the
shim is still needed) and that the patched code works.

The bugs (olive-ai 0.13.0, pydantic 2.13):
1. ``FootprintNode.update`` sets attributes by keyword, but Olive's engine records a reused
   (cached) pass output with ``model_config=...``, which is only the *alias* of the field
   ``model_config_data``: pydantic raises ``ValueError: "FootprintNode" object has no field
   "model_config"`` and the search aborts at its first cache hit.
2. ``Metric.serialize_backend`` calls ``backend.model_dump()`` on ``None`` (custom metrics have no
   backend): ``AttributeError: 'NoneType' object has no attribute 'model_dump'``.
3. ``SubMetric.serialize_metric_config`` calls ``metric_config.model_dump()`` on ``None`` (custom
   sub-metrics have no metric config): same ``AttributeError``.
4. ``Metric.user_config`` is declared as the field-less ``ConfigBase``, so pydantic dumps a custom
   metric's user config (``user_script``, ``evaluate_func``, its kwargs) as ``{}``;
   ``RunEngineConfig.create_engine`` and ``OliveCache.prepare_resources_for_local`` rebuild the
   evaluator from such dumps, and every evaluation then fails with
   ``ValueError: evaluate_func or metric_func is not specified in the metric config``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from typing import Any

log = logging.getLogger("lib.compress.olive.compat")


AFFECTED_SERIES = "0.13."


_applied: list[str] = []


def olive_version() -> str:
    try:
        return importlib.metadata.version("olive-ai")
    except importlib.metadata.PackageNotFoundError:
        return ""


def needs_shims(version: str | None = None) -> bool:
    """True for the Olive release series whose bugs these shims work around."""
    return (version if version is not None else olive_version()).startswith(AFFECTED_SERIES)


def _patch_footprint_alias() -> None:
    """Bug 1: translate alias keywords (``model_config``) to field names before ``setattr``."""
    from olive.engine.footprint import FootprintNode

    original = FootprintNode.update
    if getattr(original, "_compendium_shim", False):
        return
    aliases = {f.alias: name for name, f in FootprintNode.model_fields.items() if f.alias}

    @functools.wraps(original)
    def update(self, **kwargs: Any) -> None:
        return original(self, **{aliases.get(k, k): v for k, v in kwargs.items()})

    update._compendium_shim = True  # type: ignore[attr-defined]
    FootprintNode.update = update


def _dump_or_none(self, value):
    """Replacement body of Olive's serializers: ``None`` (custom metrics) stays ``None``."""
    return value if value is None or isinstance(value, str) else value.model_dump()


def _patch_metric_serialisation() -> None:
    """Bugs 2-3: give the two serializers a None-safe body. pydantic compiled references to these
    function objects into every model that embeds a Metric (RunConfig, evaluator configs), so the
    function *body* is swapped in place; rebuilding Metric's schema alone would not reach them."""
    from olive.evaluator.metric import Metric, SubMetric

    for fn in (Metric.serialize_backend, SubMetric.serialize_metric_config):  # bug 2, bug 3
        if fn.__code__ is not _dump_or_none.__code__:
            fn.__code__ = _dump_or_none.__code__


def _patch_config_dump_as_any() -> None:
    """Bug 4: Olive configs are round-tripped through ``model_dump()`` (``RunEngineConfig.
    create_engine``, ``OliveCache.prepare_resources_for_local``); dumping with pydantic's
    ``serialize_as_any=True`` keeps the fields of a field's runtime subclass (lossless)."""
    from olive.common.config_utils import ConfigBase

    original = ConfigBase.model_dump
    if getattr(original, "_compendium_shim", False):
        return

    @functools.wraps(original)
    def model_dump(self, **kwargs: Any):
        kwargs.setdefault("serialize_as_any", True)
        return original(self, **kwargs)

    model_dump._compendium_shim = True  # type: ignore[attr-defined]
    ConfigBase.model_dump = model_dump


SHIMS = {  # name -> patch function, in the order they are applied
    "footprint_model_config_alias": _patch_footprint_alias,      # bug 1
    "metric_serializers_none": _patch_metric_serialisation,      # bugs 2 and 3
    "config_dump_as_any": _patch_config_dump_as_any,             # bug 4
}


def apply(names: list[str] | None = None) -> list[str]:
    """Apply the shims (all by default) once each; no-op outside olive-ai 0.13.*. Returns the
    names applied so far."""
    if not needs_shims():
        log.info("olive-ai %s: no compatibility shims applied", olive_version() or "(absent)")
        return []
    for name in names or list(SHIMS):
        if name not in _applied:
            SHIMS[name]()
            _applied.append(name)
    log.info("olive-ai %s: shims applied %s", olive_version(), _applied)
    return list(_applied)
