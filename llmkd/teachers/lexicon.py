"""A finance polarity lexicon as a teacher: instant, free, nothing leaves the machine.

``--teacher lexicon`` labels a text positive / negative / neutral by the sign of its lexicon score
(:func:`llmkd.scoring.lexicon.polarity_score`: positive minus negative word hits, negators flip a hit).
``lexicon:PATH`` uses another lexicon YAML of the same shape. It gives a hard label and no invented
probabilities (``prob_method: none``), like an API without log-probs. Its use is as a second, very
different opinion beside a weak local LLM: ``--teacher local:qwen --teacher lexicon`` then
``llmkd.filter --min-agreement 1`` keeps the records on which both agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmkd.errors import TeacherError
from llmkd.io.records import TeacherOutput
from llmkd.io.task import Task
from llmkd.scoring.lexicon import LEXICON_PATH, Lexicon, load_lexicon, polarity_score
from llmkd.teachers.base import ResultCallback, TeacherRequest

LEXICON_LABELS = ("positive", "negative", "neutral")


def lexicon_label(score: int) -> str:
    """Positive score -> positive, negative -> negative, 0 -> neutral."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def lexicon_digest(lexicon: Lexicon) -> str:
    """A short hash of what decides the labels (the word lists), so editing comments keeps the cache."""
    content = {
        "positive": list(lexicon.positive),
        "negative": list(lexicon.negative),
        "negators": sorted(lexicon.negators),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()[:12]


class LexiconTeacher:
    """Labels by lexicon polarity; see the module docstring."""

    def __init__(self, path: Path, task: Task, name: str) -> None:
        missing = [lab for lab in LEXICON_LABELS if lab not in task.labels]
        if missing:
            raise TeacherError(
                f"teacher {name!r} labels {', '.join(LEXICON_LABELS)}; task {task.name!r} lacks "
                f"{', '.join(missing)} (its labels: {', '.join(task.labels)})"
            )
        if not path.is_file():
            raise TeacherError(f"teacher {name!r}: no such lexicon file {str(path)!r}")
        try:
            self.lexicon: Lexicon = load_lexicon(path)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise TeacherError(f"teacher {name!r}: {path} is not a lexicon YAML ({exc})") from None
        self.name = name
        self.task = task
        self.model = f"lexicon-{lexicon_digest(self.lexicon)}"

    @classmethod
    def from_spec(cls, spec: str, task: Task) -> LexiconTeacher:
        """``lexicon`` (llmkd's finance lexicon) or ``lexicon:PATH``."""
        target = spec.partition(":")[2]
        return cls(Path(target) if target else LEXICON_PATH, task, name=spec)

    def request_payload(self, request: TeacherRequest) -> dict[str, Any]:
        return {"model": self.model, "text": request.item.text, "params": {"method": "lexicon"}}

    def label(
        self, batch: Sequence[TeacherRequest], on_result: ResultCallback | None = None
    ) -> list[TeacherOutput]:
        outputs = []
        for request in batch:
            score = polarity_score(request.item.text, self.lexicon)
            label = lexicon_label(score)
            output = TeacherOutput(
                label=label, probs=None, rationale=None, raw=label, extra={"lexicon_score": score}
            )
            outputs.append(output)
            if on_result is not None:
                on_result(request, output)
        return outputs

    def close(self) -> None:
        return None
