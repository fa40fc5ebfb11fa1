"""Teacher options from generate's flags: shared by generate and by evaluate, which rebuilds a run's
local teachers from its ``generate_config.json``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from llmkd.models.device import resolve_device
from llmkd.models.embedded import local_profile
from llmkd.teachers.base import TeacherOptions
from llmkd.teachers.specs import teacher_kind

_FIELDS = frozenset(f.name for f in fields(TeacherOptions))


def teacher_options(settings: Mapping[str, Any]) -> TeacherOptions:
    """The options generate's flags (``vars(GenerateConfig)`` or a saved ``generate_config.json``) give
    every teacher; flags absent from ``settings`` keep their defaults.

    ``temperature`` unset is 0, or 1 when sampling several answers; ``few_shot`` unset is on.
    """
    values = {k: v for k, v in settings.items() if k in _FIELDS and v is not None}
    samples = int(values.get("samples", 1))
    values["temperature"] = float(values.get("temperature", 1.0 if samples > 1 else 0.0))
    values["few_shot"] = settings.get("few_shot") is not False
    for name in ("calibrate", "label_prefix", "few_shot_pool", "base_url", "rpm", "tpm"):
        values[name] = settings.get(name)  # None is meaningful: the model's or provider's default
    return TeacherOptions(**values)


def options_for(spec: str, settings: Mapping[str, Any], options: TeacherOptions) -> TeacherOptions:
    """``options`` for the teacher ``spec``: with ``few_shot`` unset, API teachers use the task's
    examples and local ones their model's default (on with a ``few_shot_pool``). A local teacher's
    ``device`` ``auto`` becomes ``cuda`` when a GPU is present, else ``cpu``."""
    if teacher_kind(spec) not in {"local", "hf"}:
        return options
    device = resolve_device(options.device)
    if device != options.device:
        options = replace(options, device=device)
    if settings.get("few_shot") is None:
        return replace(options, few_shot=bool(settings.get("few_shot_pool")) or local_profile(spec).few_shot)
    return options
