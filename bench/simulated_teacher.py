"""A SIMULATED strong teacher on a loopback OpenAI-compatible server, of known quality.

The answer for a text is its gold label passed through a fixed confusion matrix (rows gold, columns the
simulated answer), chosen so that weighted F1 is about 0.833 on the Financial PhraseBank test split —
GPT-4's published figure on that benchmark. Within each gold label the corrupted items are picked by a
hash of the text in exact proportions, so every gold file gets the matrix's rates exactly (up to rounding).

The label's log-probs are lower on corrupted items, as a real teacher's are: the chosen label gets
p ~ U(0.55, 0.99) when it is right and p ~ U(0.45, 0.75) when it is wrong (overlapping, so no
confidence threshold separates them cleanly; the runner-up share never overtakes the answer), where most of the rest goes
to the gold label (a real teacher's runner-up is often the right answer).

Everything labelled by it is a "simulated teacher": reports must say so.

    python bench/simulated_teacher.py --gold bench/quality/data/train.jsonl --gold bench/quality/data/test.jsonl
    # prints the port; then
    python -m llmkd.generate --teacher openai-compatible:simulated-gpt-4 --base-url http://127.0.0.1:PORT/v1 ...
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llmkd.run.files import read_jsonl  # noqa: E402
from tests.servers import Faults  # noqa: E402
from tests.servers.openai_server import FILLER, OpenAIServer  # noqa: E402

LABELS = ("positive", "negative", "neutral")
# Rows: gold label; columns: the simulated answer (LABELS order). Expected weighted F1 on the
# PhraseBank test split (356 positive, 143 negative, 713 neutral): 0.833.
CONFUSION = {
    "positive": {"positive": 0.79, "negative": 0.04, "neutral": 0.17},
    "negative": {"positive": 0.05, "negative": 0.78, "neutral": 0.17},
    "neutral": {"positive": 0.095, "negative": 0.04, "neutral": 0.865},
}
NAME = "simulated-gpt-4"


def _unit(text: str, salt: str) -> float:
    """A deterministic number in [0, 1) from ``text``."""
    digest = hashlib.sha256(f"{salt}|{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _key(text: str) -> str:
    return " ".join(text.split())


def simulated_answers(gold: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Text -> simulated label: within each gold label, items sorted by hash get the row's rates exactly."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in gold:
        by_label[label].append(_key(text))
    answers: dict[str, str] = {}
    for label, texts in by_label.items():
        row = CONFUSION.get(label, {label: 1.0})
        ranked = sorted(set(texts), key=lambda t: _unit(t, "rank"))
        counts = {answer: round(rate * len(ranked)) for answer, rate in row.items() if answer != label}
        start = 0
        for answer, n in counts.items():
            for text in ranked[start : start + n]:
                answers[text] = answer
            start += n
        for text in ranked[start:]:
            answers[text] = label
    return answers


def distribution(text: str, gold: str, answer: str, labels: Sequence[str]) -> dict[str, float]:
    """The simulated label distribution: confident when right, less so (runner-up = gold) when wrong."""
    u = _unit(text, "confidence")
    others = [x for x in labels if x != answer]
    if answer == gold:
        top = 0.55 + 0.44 * u
        rest = dict.fromkeys(others, (1.0 - top) / len(others))
    else:
        top = 0.45 + 0.30 * u
        third = [x for x in others if x != gold]
        rest = {gold: (1.0 - top) * (0.75 if third else 1.0)}
        rest.update(dict.fromkeys(third, (1.0 - top) * 0.25 / max(1, len(third))))
    return {answer: top, **rest}


class SimulatedTeacherServer(OpenAIServer):
    """The loopback OpenAI server answering with the simulated teacher's label and log-probs."""

    def __init__(self, gold_files: Sequence[Sequence[tuple[str, str]]], latency_s: float = 0.0) -> None:
        """Args: gold_files: the ``(text, label)`` pairs of each gold file; the confusion rates hold
        exactly within each file."""
        super().__init__(Faults(latency_s=latency_s), labels=list(LABELS))
        self.gold: dict[str, str] = {}
        self.answers: dict[str, str] = {}
        for pairs in gold_files:
            keyed = [(_key(t), g) for t, g in pairs]
            self.gold.update(keyed)
            self.answers.update(simulated_answers(keyed))
        self._texts = sorted(self.gold, key=len, reverse=True)
        self._current: dict[str, float] | None = None
        self.unknown = 0

    def find(self, prompt: str) -> str | None:
        """The gold text quoted in ``prompt`` (the longest one, if several)."""
        flat = _key(prompt)
        if flat in self.gold:
            return flat
        return next((t for t in self._texts if t in flat), None)

    def label_for(self, text: str, labels: list[str]) -> str:
        found = self.find(text)
        if found is None:  # not in the gold files: a fixed, uninformative answer
            self.unknown += 1
            self._current = dict.fromkeys(labels, 1.0 / len(labels))
            return labels[-1]
        answer = self.answers[found]
        self._current = distribution(found, self.gold[found], answer, labels)
        return answer

    def logprobs(self, tokens: list[str], top_n: int, rng: Any, labels: list[str]) -> list[dict[str, Any]]:
        out = super().logprobs(tokens, top_n, rng, labels)
        dist = self._current or {}
        for i, entry in enumerate(out):
            if i >= 2 and tokens[i - 1] == '":"' and tokens[i - 2] == "label" and entry["token"] in dist:
                alts = sorted(dist.items(), key=lambda kv: -kv[1])
                alts = [(entry["token"], dist[entry["token"]])] + [a for a in alts if a[0] != entry["token"]]
                fill = [(t, 1e-6 * 0.5**j) for j, t in enumerate(x for x in FILLER if x not in dist)]
                top = [(t, math.log(p)) for t, p in alts + fill][: max(top_n, 1)]
                entry["logprob"] = top[0][1]
                entry["top_logprobs"] = [
                    {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top[:top_n]
                ]
                break
        return out


def read_gold(path: str | Path) -> list[tuple[str, str]]:
    """``(text, label)`` pairs from a JSONL file with ``text`` and ``label``."""
    return [(str(r["text"]), str(r["label"])) for r in read_jsonl(path)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", action="append", required=True, help="JSONL with text and label")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args()
    server = SimulatedTeacherServer([read_gold(path) for path in args.gold], args.latency)
    server.serve_until_interrupted()


if __name__ == "__main__":
    main()
