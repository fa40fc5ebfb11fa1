"""Gold-seed benchmark: teacher alone, student from teacher labels only, student from the seed alone, and
student from seed + teacher, on three kinds of financial text, with llmkd's default pipeline.

Settings (every choice inside the pipeline is made on the training side: the held-out half of the seed):
- ``fomc``: FOMC monetary-policy stance, the REAL GPT-4 answers of ``shared/data/fomc/llm_answers.csv``
  served by a loopback OpenAI-compatible server (``bench/recorded_teacher.py``) for the 899 train
  sentences GPT-4 answered (seeds are drawn from them too, so the audit sees real answers); scored on
  ``fomc_test.csv`` (476) and on the 252 test sentences GPT-4 answered (the teacher's own score).
- ``phrasebank``: Financial PhraseBank (FinGPT split, 3,634 train / 1,212 test), the simulated GPT-4-class
  teacher (``bench/simulated_teacher.py``) or the lexicon.
- ``tweets``: Twitter Financial News Sentiment train file split here (seeded): a 3,000-tweet teacher pool
  and a seed pool from 70% of the rows, 1,500 test tweets from the other 30%; simulated teacher or lexicon.

Seeds of 100 / 200 / 500 items are drawn from the training side (``random.Random(draw)``).

    python bench/seed/run.py prepare
    python bench/seed/run.py run --setting fomc --teacher gpt4 --seed-size 200 --draw 0
    python bench/seed/run.py teacher-only --setting fomc --teacher gpt4
    python bench/seed/run.py gold-ceiling --setting fomc   # the student on the pool's gold labels
    python bench/seed/run.py table
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import torch  # noqa: E402
from label_runs import gold_rows, new_run  # noqa: E402
from recorded_teacher import RecordedTeacherServer, read_answers  # noqa: E402
from simulated_teacher import SimulatedTeacherServer  # noqa: E402
from tweet_splits import tweet_sides  # noqa: E402

from llmkd.evaluate import main as evaluate_main  # noqa: E402
from llmkd.filter import main as filter_main  # noqa: E402
from llmkd.finetune import main as finetune_main  # noqa: E402
from llmkd.generate import main as generate_main  # noqa: E402
from llmkd.io.readers import InputSpec, read_items  # noqa: E402
from llmkd.run.files import read_jsonl, write_json, write_jsonl  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA, RUNS, RESULTS = HERE / "data", HERE / "runs", HERE / "results"
SHARED = ROOT.parent / "shared" / "data"
TASKS = {"fomc": "monetary-policy", "phrasebank": "fin-sentiment", "tweets": "fin-sentiment"}
# The code this process runs: HEAD when it started (a commit landing mid-run does not change it).
COMMIT = subprocess.run(
    ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
).stdout.strip()
TEACHERS = {"gpt4": "openai-compatible:gpt-4-recorded", "simulated": "openai-compatible:simulated-gpt-4"}


def key(text: str) -> str:
    return " ".join(text.split())


def prepare() -> None:
    """Write every split under bench/seed/data/ (text, label, id) from ../shared/data."""
    DATA.mkdir(parents=True, exist_ok=True)
    fomc = SHARED / "fomc"
    answered = set(read_answers().keys())
    train = [dict(r) for r in csv.DictReader((fomc / "fomc_train.csv").open(encoding="utf-8"))]
    test = [dict(r) for r in csv.DictReader((fomc / "fomc_test.csv").open(encoding="utf-8"))]
    rows = lambda rs: [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in rs]  # noqa: E731
    test_keys = {key(r["text"]) for r in test}
    # Seeds come from the sentences GPT-4 answered: its audit on the seed must use its real answers.
    seedpool = (r for r in train if key(r["text"]) in answered and key(r["text"]) not in test_keys)
    write_jsonl(DATA / "fomc_seedpool.jsonl", rows(seedpool))
    write_jsonl(DATA / "fomc_pool.jsonl", rows(r for r in train if key(r["text"]) in answered))
    write_jsonl(DATA / "fomc_test.jsonl", rows(test))
    write_jsonl(DATA / "fomc_test_answered.jsonl", rows(r for r in test if key(r["text"]) in answered))
    from sklearn.model_selection import train_test_split

    pb = read_items(
        InputSpec(str(SHARED / "financial_phrasebank" / "Sentences_50Agree.txt"), format="phrasebank")
    )
    pb_train, pb_test = train_test_split(pb, test_size=0.25, random_state=42)
    as_rows = lambda items: [{"id": i.id, "text": i.text, "label": i.label} for i in items]  # noqa: E731
    write_jsonl(DATA / "phrasebank_pool.jsonl", as_rows(pb_train))
    pb_test_keys = {key(i.text.casefold()) for i in pb_test}
    write_jsonl(
        DATA / "phrasebank_seedpool.jsonl",
        as_rows(i for i in pb_train if key(i.text.casefold()) not in pb_test_keys),
    )
    write_jsonl(DATA / "phrasebank_test.jsonl", as_rows(pb_test))
    train_side, test_side = tweet_sides(SHARED)
    test_keys = {key(r["text"].casefold()) for r in test_side}
    write_jsonl(
        DATA / "tweets_seedpool.jsonl", [r for r in train_side if key(r["text"].casefold()) not in test_keys]
    )
    write_jsonl(DATA / "tweets_pool.jsonl", train_side[:3000])
    write_jsonl(DATA / "tweets_test.jsonl", test_side)
    for path in sorted(DATA.glob("*.jsonl")):
        print(path.name, sum(1 for _ in path.open()))


@contextmanager
def teacher_server(setting: str, teacher: str) -> Iterator[list[str]]:
    """Generate flags for ``teacher`` (a loopback server while the block runs, or the lexicon)."""
    if teacher == "lexicon":
        yield ["--teacher", "lexicon"]
        return
    if teacher == "gpt4":
        server: Any = RecordedTeacherServer(read_answers())
    else:
        gold = [
            [(r["text"], r["label"]) for r in read_jsonl(DATA / f"{setting}_{part}.jsonl")]
            for part in ("seedpool", "test")
        ]
        server = SimulatedTeacherServer(gold)
    server.start()
    try:
        yield [
            "--teacher",
            TEACHERS[teacher],
            "--base-url",
            f"http://127.0.0.1:{server.port}/v1",
            "--no-few-shot",
        ]
    finally:
        server.stop()


SEED_SIZES, DRAWS = (100, 200, 500), (0, 1, 2)


def seed_rows(setting: str, size: int, draw: int) -> list[dict[str, Any]]:
    """The ``size`` items of seed ``draw``: drawn from the setting's training side with ``random.Random(draw)``."""
    return random.Random(draw).sample(list(read_jsonl(DATA / f"{setting}_seedpool.jsonl")), size)


def draw_seed(setting: str, size: int, draw: int) -> Path:
    """Write seed ``draw`` of ``size`` items (:func:`seed_rows`) under runs/seeds/; returns its path."""
    chosen = seed_rows(setting, size, draw)
    path = RUNS / "seeds" / f"{setting}-n{size}-d{draw}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, chosen)
    return path


def scores(run: Path, gold: Path, teacher_labels: Path | None) -> dict[str, Any]:
    """evaluate on ``gold``; returns the student, seed-only student and teacher scores."""
    labels = ["--teacher-labels", str(teacher_labels)] if teacher_labels else []
    evaluate_main(["--run", str(run), "--gold", str(gold), *labels, "--no-time-teacher", "--no-plots"])
    result = json.loads((run / "eval.json").read_text())
    pick = lambda m: {k: m.get(k) for k in ("n", "accuracy", "macro_f1", "weighted_f1")} if m else None  # noqa: E731
    return {name: pick(result.get(name)) for name in ("teacher", "seed_only_student", "student")}


def test_files(setting: str) -> dict[str, Path]:
    files = {"test": DATA / f"{setting}_test.jsonl"}
    if setting == "fomc":
        files["test_answered"] = DATA / "fomc_test_answered.jsonl"
    return files


def label_tests(setting: str, teacher: str, flags: list[str]) -> Path:
    """The teacher's labels of the test texts (for 'teacher alone'), in their own run."""
    run = RUNS / f"{setting}-{teacher}-test"
    generate_main(
        [
            "--input",
            str(DATA / f"{setting}_test.jsonl"),
            "--task",
            TASKS[setting],
            "--run",
            str(run),
            "--no-rationale",
            *flags,
        ]
    )
    return run / "labels.jsonl"


def run_student(setting: str, teacher: str, size: int, draw: int, threads: int) -> None:
    """One run of the default pipeline; writes results/<name>.json.

    With ``size`` > 0: a seed of ``size`` items (draw ``draw``), the seed + teacher student and the seed-only
    student. With ``size`` 0: the student from teacher labels only.
    """
    name = f"{setting}-{teacher}-" + (f"n{size}-d{draw}" if size else "teacher-only")
    run = RUNS / name
    seed_flags = ["--gold-seed", str(draw_seed(setting, size, draw))] if size else []
    started = time.perf_counter()
    with teacher_server(setting, teacher) as flags:
        teacher_labels = label_tests(setting, teacher, flags)
        pool = str(DATA / f"{setting}_pool.jsonl")
        generate_main(["--input", pool, "--task", TASKS[setting], "--run", str(run), *seed_flags, *flags])
    filter_main(["--run", str(run), "--no-progress"])
    finetune_main(["--run", str(run)])
    trained = {"student": finetune_summary(run)}
    if size:
        finetune_main(["--run", str(run), "--seed-only"])
        trained["seed_only_student"] = finetune_summary(
            run / "student-seed-only"
        )  # its metrics lie beside it
    save(name, setting, teacher, size, draw if size else None, run, teacher_labels, started, threads, trained)


def run_gold_ceiling(setting: str, threads: int) -> None:
    """The default student trained on the teacher pool's GOLD labels (a teacher that is never wrong, one-hot):
    the most any teacher of that pool can give this student. Writes results/ceiling/<setting>.json."""
    name = f"{setting}-gold-pool"
    run = new_run(RUNS / name, gold_rows(DATA / f"{setting}_pool.jsonl"), TASKS[setting])
    started = time.perf_counter()
    filter_main(["--run", str(run), "--no-progress"])
    finetune_main(["--run", str(run)])
    result: dict[str, Any] = {
        "name": name,
        "setting": setting,
        "teacher": "gold labels of the teacher pool",
        "finetune": {"student": finetune_summary(run)},
        "commit": COMMIT,
        "machine": machine(threads),
    }
    for split, gold in test_files(setting).items():
        result[split] = {"student": scores(run, gold, None)["student"]}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(RESULTS / "ceiling" / f"{setting}.json", result)
    print(json.dumps({k: result[k] for k in result if k in ("name", "test", "test_answered")}, indent=1))


def machine(threads: int) -> dict[str, Any]:
    """The CPU, the torch threads and the load average now (at the end of a run)."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": threads,
        "load_avg_1_5_15min_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def finetune_summary(folder: Path) -> dict[str, Any]:
    """What ``folder/finetune_metrics.json`` (the run's, or a student's saved outside RUN/student) says about
    that student (without the log history)."""
    metrics = json.loads((folder / "finetune_metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k != "log_history"}


def save(
    name: str,
    setting: str,
    teacher: str,
    size: int,
    draw: int | None,
    run: Path,
    teacher_labels: Path,
    started: float,
    threads: int,
    trained: dict[str, Any],
) -> None:
    result: dict[str, Any] = {
        "name": name,
        "setting": setting,
        "teacher": teacher,
        "seed_size": size,
        "draw": draw,
        "finetune": trained,
        "commit": COMMIT,
        "machine": machine(threads),
    }
    if size:
        audit = json.loads((run / "audit.json").read_text())
        result["audit"] = {
            "baselines": audit["baselines"],
            "corrections": {n: c["method"] for n, c in audit["corrections"].items()},
        }
    for split, gold in test_files(setting).items():
        result[split] = scores(run, gold, teacher_labels)
    if setting == "fomc":  # GPT-4 answered only test_answered; elsewhere the server had no answer
        result["test"]["teacher"] = None
    result["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(RESULTS / f"{name}.json", result)
    print(json.dumps({k: result[k] for k in result if k in ("name", "test", "test_answered")}, indent=1))


TEACHER_NAMES = {"gpt4": "GPT-4 (recorded)", "simulated": "simulated", "lexicon": "lexicon"}
SPLIT_NAMES = {"test": "test", "test_answered": "test, GPT-4 answered"}


def cell(rs: list[dict[str, Any]], split: str, model: str) -> str:
    """Mean accuracy / macro-F1 of ``model`` on ``split`` over ``rs`` ("—" where any lacks it)."""
    found = [(r[split].get(model) or {}) for r in rs]
    if not found or any(m.get("accuracy") is None for m in found):
        return "—"
    acc = sum(m["accuracy"] for m in found) / len(found)
    return f"{acc:.3f} / {sum(m['macro_f1'] for m in found) / len(found):.3f}"


def table() -> None:
    """Markdown table of every result: one row per (setting, teacher, seed size, split), means over draws
    (each draw's seed + teacher accuracy in brackets) beside the one teacher-only run of that teacher."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        groups.setdefault((r["setting"], r["teacher"], r["seed_size"]), []).append(r)
    print(
        "| setting | teacher | seed | draws | split | teacher alone | teacher-only student"
        " | seed-only student | seed + teacher student |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (setting, teacher, size), rs in sorted(groups.items()):
        only = groups.get((setting, teacher, 0), [])
        if size == 0 and any(k[:2] == (setting, teacher) and k[2] for k in groups):
            continue  # shown beside the seeded rows
        rs = sorted(rs, key=lambda r: r["draw"] or 0)
        for split in test_files(setting):
            n = next(m["n"] for r in rs + only for m in r[split].values() if m)
            alone = cell(rs, split, "teacher")
            if alone == "—" and setting == "fomc":
                alone = "— (GPT-4 answered 252)"
            draws = "—"
            if size:
                draws = f"{len(rs)} (" + ", ".join(f"{r[split]['student']['accuracy']:.3f}" for r in rs) + ")"
            cells = [cell(only, split, "student"), "—", "—"]
            if size:
                cells[1:] = [cell(rs, split, "seed_only_student"), cell(rs, split, "student")]
            print(
                f"| {setting} | {TEACHER_NAMES[teacher]} | {size or '—'} | {draws} | {SPLIT_NAMES[split]} ({n:,})"
                f" | {alone} | " + " | ".join(cells) + " |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["prepare", "run", "teacher-only", "gold-ceiling", "table"])
    parser.add_argument("--setting", choices=sorted(TASKS), default="fomc")
    parser.add_argument("--teacher", choices=["gpt4", "simulated", "lexicon"], default="gpt4")
    parser.add_argument("--seed-size", type=int, default=200)
    parser.add_argument("--draw", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.command == "prepare":
        prepare()
    elif args.command == "run":
        run_student(args.setting, args.teacher, args.seed_size, args.draw, args.threads)
    elif args.command == "teacher-only":
        run_student(args.setting, args.teacher, 0, 0, args.threads)
    elif args.command == "gold-ceiling":
        run_gold_ceiling(args.setting, args.threads)
    else:
        table()


if __name__ == "__main__":
    main()
