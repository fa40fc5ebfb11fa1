"""Contextual calibration (Zhao et al. 2021, "Calibrate Before Use").

A small LM prefers some labels whatever the text. Measure that prior on content-free inputs (``"N/A"``,
``""``, ``"[MASK]"``) in the same prompt, then divide each item's label distribution by it and renormalise.
"""

from __future__ import annotations

import torch

CONTENT_FREE = ("N/A", "", "[MASK]")


def content_free_prior(dists: torch.Tensor) -> torch.Tensor:
    """The label prior: mean of the (N, L) label distributions of N content-free inputs, summing to 1."""
    prior = dists.float().mean(dim=0)
    return prior / prior.sum()


def calibrate(probs: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Divide (B, L) label distributions by the (L,) prior and renormalise each row."""
    scaled = probs.float() / prior.clamp(min=1e-12)
    return scaled / scaled.sum(dim=-1, keepdim=True)
