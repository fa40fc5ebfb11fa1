"""Which modules a student's LoRA adapters go on (``--lora-targets``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from llmkd.errors import ConfigError

AUTO, ALL_LINEAR = "auto", "all-linear"


def linear_modules(model: torch.nn.Module, skip: Sequence[str] = ()) -> list[str]:
    """Full names of the ``nn.Linear`` layers of ``model`` outside the modules named in ``skip``.

    ``skip`` holds leaf names (``classifier``, ``pooler``, ``lm_head``): a layer is left out when any part
    of its dotted name is one of them.
    """
    skipped = set(skip)
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not skipped.intersection(name.split("."))
    ]


def resolve_targets(model: torch.nn.Module, spec: str, skip: Sequence[str] = ()) -> list[str]:
    """peft ``target_modules`` (full module names) for ``--lora-targets spec``.

    ``auto`` and ``all-linear`` are every linear layer outside ``skip``: on PhraseBank 0.2–1.4 points above
    attention query/value alone for the encoder, and the setting that let SmolLM2-135M learn the task at
    all (``bench/quality``). Names are expanded to the full names of the matching layers outside ``skip``,
    so a leaf name such as ``dense`` never reaches into a head that is trained in full.

    Args:
        model: The model about to be wrapped.
        spec: ``auto``, ``all-linear`` or comma-separated module names (``q_proj,v_proj``).
        skip: Head modules that are trained in full (or unused) and so never get adapters.

    Raises:
        ConfigError: a named module is not in the model, or nothing is left to adapt.
    """
    spec = spec.strip()
    linear = linear_modules(model, skip)
    if spec in (AUTO, ALL_LINEAR):
        if not linear:
            raise ConfigError(f"--lora-targets {spec}: the model has no linear layer outside its head")
        return linear
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError(
            "--lora-targets: empty; give auto, all-linear or module names such as q_proj,v_proj"
        )
    leaves = sorted({name.rsplit(".", 1)[-1] for name in linear})
    chosen = []
    for name in names:
        matches = [full for full in linear if full == name or full.endswith(f".{name}")]
        if not matches:
            raise ConfigError(
                f"--lora-targets: no linear layer {name!r} in the student (outside its head); "
                f"its linear layers are: {', '.join(leaves)}"
            )
        chosen += [full for full in matches if full not in chosen]
    return chosen
