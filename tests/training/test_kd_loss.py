"""The KD loss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llmkd.training.kd_loss import kd_loss


def test_hand_computed_value():
    # Teacher [0.8, 0.2] at T=2: softmax(log p / 2) ∝ sqrt(p) -> [2/3, 1/3].
    # Student [1, 0] at T=2: softmax([0.5, 0]) = [0.622459, 0.377541].
    # KL = 2/3 ln((2/3)/0.622459) + 1/3 ln((1/3)/0.377541) = 0.00422948
    # CE(student, 0) = ln(1 + e^-1) = 0.31326169
    # loss = 0.5 * 4 * 0.00422948 + 0.5 * 0.31326169 = 0.16508981
    loss = kd_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.8, 0.2]]), torch.tensor([0]), 2.0, 0.5)
    assert loss.item() == pytest.approx(0.16508981, abs=1e-6)


def test_soft_term_alone_hand_value():
    # alpha=1, T=1: plain KL([0.5, 0.5] || softmax([0, ln 3]) = [0.25, 0.75])
    # = 0.5 ln 2 + 0.5 ln(2/3) = 0.5 ln(4/3) = 0.14384104
    logits = torch.tensor([[0.0, math.log(3.0)]])
    loss = kd_loss(logits, torch.tensor([[0.5, 0.5]]), torch.tensor([1]), temperature=1.0, alpha=1.0)
    assert loss.item() == pytest.approx(0.14384104, abs=1e-6)


def test_alpha_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    hard = torch.tensor([0, 2, 1, 1, 0])
    teacher = torch.softmax(torch.randn(5, 3), dim=-1)
    loss = kd_loss(logits, teacher, hard, temperature=3.0, alpha=0.0)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, hard).item(), abs=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
def test_alpha_one_identical_distributions_is_zero(temperature):
    teacher = torch.tensor([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]])
    student_logits = teacher.log() + 1.5  # a shift does not change the softmax
    loss = kd_loss(student_logits, teacher, torch.tensor([0, 2]), temperature, alpha=1.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_one_hot_teacher_is_finite_and_differentiable():
    logits = torch.zeros(2, 3, requires_grad=True)
    teacher = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    loss = kd_loss(logits, teacher, torch.tensor([0, 2]), 2.0, 0.5)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert logits.grad is not None and logits.grad[0, 0] < 0  # pushes the teacher's class up


def test_class_weights_hand_value():
    # Two examples, alpha=0 (CE only): logits [0, 0] -> CE = ln 2 each for labels 0 and 1; logits
    # [ln 3, 0] on label 0 -> CE = ln(4/3). Weights [1, 3] on labels -> (1*ln(4/3) + 3*ln 2) / 4.
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    hard = torch.tensor([0, 1])
    teacher = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    loss = kd_loss(logits, teacher, hard, 1.0, 0.0, class_weights=torch.tensor([1.0, 3.0]))
    expected = (math.log(4 / 3) + 3 * math.log(2)) / 4  # 0.59178
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    uniform = kd_loss(logits, teacher, hard, 1.0, 0.0, class_weights=torch.tensor([2.0, 2.0]))
    assert uniform.item() == pytest.approx(kd_loss(logits, teacher, hard, 1.0, 0.0).item(), abs=1e-6)
