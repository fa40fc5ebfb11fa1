"""Turn a chat completion's token log-probs into a probability for each label.

Method (for an answer like ``{"label":"positive","rationale":"..."}``):

1. Rebuild the answer text from the generated tokens and find the character where the label's value
   starts (just after ``"label":"``; for a bare answer, the first non-space character).
2. Take the token covering that character. Any part of it before the value (e.g. the ``"`` of a token
   ``"pos``) must be matched by the alternatives too. Every alternative in ``top_logprobs`` (and the
   chosen token itself) is a candidate continuation with probability ``exp(logprob)``.
3. Each alternative's text is compared with every label followed by its closing quote:
   - it completes exactly one label (``positive"...``) -> its mass goes to that label;
   - it is the start of exactly one label (``pos``) -> its mass goes to that label;
   - it is the start of several labels (``neutral`` for ``neutral`` and ``neutralish``; ``neg`` for
     multi-token ``negative`` and ``negligible``) -> if it is the token that was generated, walk to the
     next position and split its mass by the next token's (renormalised) distribution, recursively;
     an alternative that was not generated has no further log-probs, so its mass is split evenly
     among the labels it could start;
   - it fits no label -> dropped.
4. Renormalise over the task's labels. Labels that never appear get 0 (or ``floor`` before
   renormalising). When the value cannot be located, or no mass lands on any label, the result is
   None: the caller records that log-probs were unusable instead of inventing a distribution.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LABEL_VALUE = re.compile(r'"label"\s*:\s*"')


@dataclass(frozen=True)
class TokenStep:
    """One generated token: its text, log-prob, and the top alternatives at that position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


def steps_from_openai(content: Sequence[Any]) -> list[TokenStep]:
    """Convert ``choice.logprobs.content`` (SDK ``ChatCompletionTokenLogprob``) to :class:`TokenStep`."""
    return [
        TokenStep(c.token, float(c.logprob), tuple((t.token, float(t.logprob)) for t in c.top_logprobs or ()))
        for c in content
    ]


def value_start(text: str, *, json_value: bool = True) -> int | None:
    """Character offset where the label's value begins in ``text`` (None if not found)."""
    if json_value:
        match = LABEL_VALUE.search(text)
        return match.end() if match else None
    stripped = len(text) - len(text.lstrip())
    return stripped if stripped < len(text) else None


def _alternatives(step: TokenStep) -> dict[str, float]:
    alts: dict[str, float] = {}
    for token, logprob in ((step.token, step.logprob), *step.top):
        alts.setdefault(token, logprob)
    return alts


def _walk(
    steps: Sequence[TokenStep], j: int, prefix: str, consumed: str, labels: list[str], closing: str
) -> dict[str, float]:
    """Unnormalised mass per label from position ``j`` on, given the value text ``consumed`` so far."""
    step = steps[j]
    mass: dict[str, float] = dict.fromkeys(labels, 0.0)
    for token, logprob in _alternatives(step).items():
        if not token.startswith(prefix):
            continue
        text = consumed + token[len(prefix) :]
        p = math.exp(logprob)
        done = [label for label in labels if closing and text.startswith(label + closing)]
        if done:
            mass[done[0]] += p
            continue
        live = [label for label in labels if (label + closing).startswith(text)]
        if not live:
            continue
        if len(live) == 1:
            mass[live[0]] += p
        elif token == step.token and j + 1 < len(steps):
            sub = _walk(steps, j + 1, "", text, live, closing)
            total = sum(sub.values())
            for label in live:
                mass[label] += p * (sub[label] / total if total > 0 else 1.0 / len(live))
        elif not closing and text in live and token == step.token:
            mass[text] += p  # bare answer that ends here
        else:
            for label in live:
                mass[label] += p / len(live)
    return mass


def label_probabilities(
    steps: Sequence[TokenStep], labels: Sequence[str], *, json_value: bool = True, floor: float = 0.0
) -> dict[str, float] | None:
    """A probability for each label from the log-probs of a generated answer (see the module docstring).

    Args:
        steps: The generated tokens with their top alternatives, in order.
        labels: The task's labels.
        json_value: The answer is a JSON object with a ``label`` string (else a bare label).
        floor: Mass given to every label before renormalising (0 keeps unseen labels at 0).

    Returns:
        ``{label: probability}`` summing to 1 in the order of ``labels``, or None when unusable.
    """
    if not steps:
        return None
    text = "".join(step.token for step in steps)
    start = value_start(text, json_value=json_value)
    if start is None:
        return None
    offset = 0
    for j, step in enumerate(steps):
        if offset <= start < offset + len(step.token):
            mass = _walk(steps, j, text[offset:start], "", list(labels), '"' if json_value else "")
            break
        offset += len(step.token)
    else:
        return None
    if sum(mass.values()) <= 0:
        return None
    scored = {label: mass[label] + floor for label in labels}
    total = sum(scored.values())
    return {label: scored[label] / total for label in labels}
