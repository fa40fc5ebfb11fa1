"""A REAL teacher's recorded answers served by a loopback OpenAI-compatible server.

``../shared/data/fomc/llm_answers.csv`` holds GPT-4's and ChatGPT's answers (zero-shot, temperature 0) to
1,204 FOMC sentences, recorded by Shah and Chava (2023). This server answers llmkd's chat requests with
the recorded label and explanation of the chosen model, without log-probs (none were recorded), so a run
distils from a real teacher whose errors are systematic. A text with no recorded answer is counted in
``unknown`` and answered "neutral".

    python bench/recorded_teacher.py --model gpt4   # prints the port; then
    python -m llmkd.generate --task monetary-policy --teacher openai-compatible:gpt-4-recorded \\
        --base-url http://127.0.0.1:PORT/v1 --no-few-shot ...
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import Faults  # noqa: E402
from tests.servers.openai_server import OpenAIServer  # noqa: E402

ANSWERS = ROOT.parent / "shared" / "data" / "fomc" / "llm_answers.csv"
LABELS = ["dovish", "hawkish", "neutral"]
Model = Literal["gpt4", "chatgpt"]


def key(text: str) -> str:
    return " ".join(text.split())


def read_answers(path: Path = ANSWERS, model: Model = "gpt4") -> dict[str, tuple[str, str]]:
    """Text -> (recorded label, recorded explanation) for ``model``."""
    answers: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            explanation = row[f"{model}_answer"].strip().split("\n", 1)[-1].strip()
            answers[key(row["text"])] = (row[f"{model}_label"].strip().lower(), " ".join(explanation.split()))
    return answers


class RecordedTeacherServer(OpenAIServer):
    """Answers with the recorded label and explanation; no log-probs."""

    def __init__(self, answers: dict[str, tuple[str, str]], latency_s: float = 0.0) -> None:
        super().__init__(Faults(latency_s=latency_s, logprobs=False), labels=list(LABELS))
        self.answers = answers
        self.unknown = 0

    def label_for(self, text: str, labels: list[str]) -> str:
        found = self.answers.get(key(text))
        if found is None:
            self.unknown += 1
            return "neutral" if "neutral" in labels else labels[-1]
        return found[0]

    def rationale_for(self, text: str) -> str:
        found = self.answers.get(key(text))
        return found[1] if found else "No recorded answer."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["gpt4", "chatgpt"], default="gpt4", help="whose answers to serve")
    parser.add_argument("--answers", default=str(ANSWERS), help="the recorded answers CSV")
    args = parser.parse_args()
    server = RecordedTeacherServer(read_answers(Path(args.answers), args.model))
    server.serve_until_interrupted()


if __name__ == "__main__":
    main()
