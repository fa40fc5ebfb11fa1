"""Recipe comparisons on dev sets carved from the training side (never the test split).

- ``fomc``: the FOMC train sentences GPT-4 did not answer (so no run of ``run.py`` trains on them), less any
  sentence also in ``fomc_test.csv``: 994 sentences with gold labels.
- ``tweets``: 1,000 tweets (seeded sample) from the training side that are neither in the teacher pool, nor in
  any seed the benchmark draws (100 / 200 / 500 items, draws 0 to 2), nor in the test split.

Each student folder given is scored (accuracy, macro-F1, the labels it says) and the result is written to
``results/dev/<run>--<student folder>.json`` with the commit.

    python bench/seed/dev.py prepare
    python bench/seed/dev.py score --setting fomc runs/fomc-gpt4-n200-d0/student runs/fomc-gpt4-n200-d0/variant-mean
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT, ROOT / "bench", HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from run import DATA, DRAWS, RUNS, SEED_SIZES, SHARED, key, seed_rows  # noqa: E402  (bench/seed/run.py: the splits and runs it writes)

from llmkd.run.files import read_jsonl, write_json, write_jsonl  # noqa: E402

RESULTS = HERE / "results" / "dev"
DEV_TWEETS = 1000


def texts(path: Path) -> set[str]:
    return {key(r["text"].casefold()) for r in read_jsonl(path)}


def prepare() -> None:
    """Write ``data/fomc_dev.jsonl`` and ``data/tweets_dev.jsonl`` (after ``run.py prepare``)."""
    used = texts(DATA / "fomc_pool.jsonl") | texts(DATA / "fomc_test.jsonl")
    with (SHARED / "fomc" / "fomc_train.csv").open(encoding="utf-8", newline="") as handle:
        train = list(csv.DictReader(handle))
    dev: dict[str, dict[str, str]] = {}
    for r in train:
        if key(r["text"].casefold()) not in used:
            dev.setdefault(key(r["text"].casefold()), {"id": r["id"], "text": r["text"], "label": r["label"]})
    write_jsonl(DATA / "fomc_dev.jsonl", list(dev.values()))
    used = texts(DATA / "tweets_pool.jsonl") | texts(DATA / "tweets_test.jsonl")
    for size in SEED_SIZES:  # every seed the benchmark draws, whether drawn yet or not
        used |= {key(r["text"].casefold()) for draw in DRAWS for r in seed_rows("tweets", size, draw)}
    spare = [r for r in read_jsonl(DATA / "tweets_seedpool.jsonl") if key(r["text"].casefold()) not in used]
    write_jsonl(DATA / "tweets_dev.jsonl", random.Random(0).sample(spare, DEV_TWEETS))
    for name in ("fomc_dev.jsonl", "tweets_dev.jsonl"):
        rows = list(read_jsonl(DATA / name))
        print(name, len(rows), dict(Counter(r["label"] for r in rows)))


def made_by(folder: Path) -> dict[str, object]:
    """The student's finetune flags, from its own config or its run's (when that run wrote this folder)."""
    for config in (folder / "finetune_config.json", folder.parent / "finetune_config.json"):
        if config.is_file():
            flags = json.loads(config.read_text())
            output = (ROOT / flags["output"]).resolve() if flags.get("output") else folder.parent / "student"
            if output == folder.resolve():
                return {
                    k: flags.get(k) for k in ("student", "full", "pooling", "class_weights", "max_length")
                }
    return {}


def score(setting: str, students: list[str], threads: int) -> None:
    import numpy as np
    import torch
    from sklearn.metrics import f1_score

    import llmkd.students.pooled  # noqa: F401  (mean-pooled students load after it)
    from llmkd.students.encoder import EncoderStudent

    torch.set_num_threads(threads)
    rows = list(read_jsonl(DATA / f"{setting}_dev.jsonl"))
    gold = [r["label"] for r in rows]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    for folder in students:
        student = EncoderStudent.load(folder)
        probs = student.predict_probs([r["text"] for r in rows], 32, progress=False)
        said = [student.labels[i] for i in probs.argmax(axis=1)]
        result = {
            "setting": setting,
            "split": f"data/{setting}_dev.jsonl (training side)",
            "student": os.path.relpath(folder, HERE),
            "made_by": made_by(Path(folder)),
            "n": len(rows),
            "accuracy": round(float(np.mean([s == g for s, g in zip(said, gold, strict=True)])), 4),
            "macro_f1": round(float(f1_score(gold, said, average="macro")), 4),
            "said": dict(Counter(said)),
            "commit": commit.stdout.strip(),
        }
        resolved = Path(folder).resolve()
        parts = resolved.relative_to(RUNS).parts if resolved.is_relative_to(RUNS) else resolved.parts[-2:]
        name = "--".join(parts)
        write_json(RESULTS / f"{name}.json", result)
        print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["prepare", "score"])
    parser.add_argument("students", nargs="*", help="student folders under runs/")
    parser.add_argument("--setting", choices=["fomc", "tweets"], default="fomc")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_intermixed_args()
    if args.command == "prepare":
        prepare()
    else:
        score(args.setting, args.students, args.threads)


if __name__ == "__main__":
    main()
