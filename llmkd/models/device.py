"""The torch device a model runs on."""

from __future__ import annotations


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is present, else ``cpu``; other names unchanged."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
