"""The students of the cascade benchmark, each trained on the training side only, with a dev split kept apart.

- ``fomc``: the 899 FOMC train sentences GPT-4 answered (``bench/seed``'s ``fomc_pool``), split 80/20 (seeded)
  into a teacher pool (labelled by GPT-4's recorded answers, ``bench/recorded_teacher.py``) and a dev split
  (gold labels) on which predict's threshold is chosen.
- ``phrasebank``: PhraseBank's training side (``phrasebank_pool``, 3,634), split 85/15 the same way; the teacher
  is the simulated GPT-4-class teacher (``bench/simulated_teacher.py``).

Each student is llmkd's default MiniLM student (generate -> filter -> finetune with default settings).

    python bench/seed/run.py prepare
    python bench/predict/students.py --setting fomc
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import torch  # noqa: E402
from recorded_teacher import RecordedTeacherServer, read_answers  # noqa: E402
from simulated_teacher import SimulatedTeacherServer  # noqa: E402

from llmkd.filter import main as filter_main  # noqa: E402
from llmkd.finetune import main as finetune_main  # noqa: E402
from llmkd.generate import main as generate_main  # noqa: E402
from llmkd.run.files import read_jsonl, write_jsonl  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED_DATA = ROOT / "bench" / "seed" / "data"
DATA, RUNS = HERE / "data", HERE / "runs"
TASKS = {"fomc": "monetary-policy", "phrasebank": "fin-sentiment"}
DEV_SHARE = {"fomc": 0.2, "phrasebank": 0.15}
# Model names that price_for() bills at gpt-4o list prices (the servers ignore the name).
TEACHERS = {"fomc": "openai-compatible:gpt-4o-recorded", "phrasebank": "openai-compatible:gpt-4o-simulated"}


def split(setting: str) -> tuple[Path, Path, Path]:
    """``(train, dev, test)`` files of ``setting``; train and dev are a seeded split of the training side."""
    pool = list(read_jsonl(SEED_DATA / f"{setting}_pool.jsonl"))
    random.Random(0).shuffle(pool)
    cut = round(len(pool) * DEV_SHARE[setting])
    DATA.mkdir(parents=True, exist_ok=True)
    train, dev = DATA / f"{setting}_train.jsonl", DATA / f"{setting}_dev.jsonl"
    write_jsonl(train, pool[cut:])
    write_jsonl(dev, pool[:cut])
    test = SEED_DATA / ("fomc_test_answered.jsonl" if setting == "fomc" else "phrasebank_test.jsonl")
    return train, dev, test


@contextmanager
def teacher_server(setting: str) -> Iterator[Any]:
    """The setting's loopback teacher server while the block runs."""
    if setting == "fomc":
        server: Any = RecordedTeacherServer(read_answers())
    else:
        gold = [
            [(r["text"], r["label"]) for r in read_jsonl(SEED_DATA / f"phrasebank_{part}.jsonl")]
            for part in ("seedpool", "test")
        ]
        server = SimulatedTeacherServer(gold)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def teacher_flags(setting: str, server: Any) -> list[str]:
    return [
        "--teacher",
        TEACHERS[setting],
        "--base-url",
        f"http://127.0.0.1:{server.port}/v1",
        "--no-few-shot",
    ]


def train(setting: str, limit: int | None, epochs: int | None) -> Path:
    """Label the train split (its first ``limit`` items) with the teacher, filter, fine-tune the default
    student (``epochs``: finetune's default when None); returns the run."""
    train_file, _, _ = split(setting)
    limit_flags = ["--limit", str(limit)] if limit else []
    epoch_flags = ["--epochs", str(epochs)] if epochs else []
    run = RUNS / f"{setting}-student"
    with teacher_server(setting) as server:
        generate_main(
            [
                *["--input", str(train_file), "--task", TASKS[setting], "--run", str(run), "--no-rationale"],
                *teacher_flags(setting, server),
                *limit_flags,
            ]
        )
    filter_main(["--run", str(run), "--no-progress"])
    finetune_main(["--run", str(run), *epoch_flags])
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(TASKS), required=True)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--limit", type=int, default=None, help="teacher-label only the first N train items")
    parser.add_argument("--epochs", type=int, default=None, help="finetune --epochs (default: finetune's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(train(args.setting, args.limit, args.epochs))


if __name__ == "__main__":
    main()
