"""The knowledge-distillation loss: soft teacher targets at temperature T mixed with hard-label CE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


def kd_loss(
    student_logits: torch.Tensor,
    teacher_probs: torch.Tensor,
    hard_labels: torch.Tensor,
    temperature: float = 2.0,
    alpha: float = 0.5,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """``alpha * T^2 * KL(p_teacher_T || softmax(s / T)) + (1 - alpha) * CE(s, hard)``.

    The teacher gives probabilities, not logits, so they are re-tempered as ``softmax(log(p) / T)``
    (probabilities are clamped to ``EPS`` first, so one-hot targets stay finite).

    Args:
        student_logits: ``(B, C)`` raw student scores.
        teacher_probs: ``(B, C)`` teacher probabilities (rows sum to 1).
        hard_labels: ``(B,)`` class indices (the teacher's label).
        temperature: Softening temperature ``T`` (> 0).
        alpha: Weight of the soft term, in ``[0, 1]``; 0 is hard-label cross-entropy only.
        class_weights: Optional ``(C,)`` weights; each example's two terms are weighted by the weight of
            its hard label and the batch mean becomes ``sum(w_i * loss_i) / sum(w_i)``.

    Returns:
        A scalar: the (weighted) batch mean.
    """
    t = temperature
    log_p_teacher = F.log_softmax(teacher_probs.clamp_min(EPS).log() / t, dim=-1)  # (B, C)
    log_q_student = F.log_softmax(student_logits / t, dim=-1)  # (B, C)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_q_student)).sum(dim=-1)  # (B,)
    ce = F.cross_entropy(student_logits, hard_labels, reduction="none")  # (B,)
    per_item = alpha * t * t * kl + (1.0 - alpha) * ce  # (B,)
    if class_weights is None:
        return per_item.mean()
    weights = class_weights.to(per_item.dtype)[hard_labels]  # (B,)
    return (weights * per_item).sum() / weights.sum().clamp_min(EPS)
