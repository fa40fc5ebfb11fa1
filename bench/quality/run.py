"""Quality benchmark on the Financial PhraseBank FinGPT split (3,634 train / 1,212 test sentences).

Each experiment writes ``bench/quality/results/<name>.json``; ``table`` rebuilds the README table.

    python bench/quality/split.py                     # data/train.jsonl, data/test.jsonl
    python bench/quality/run.py gold                  # (a) MiniLM on gold labels: the upper bound
    python bench/quality/run.py teacher --teacher-run qwen --variants hard soft ...
                                                      # (b) a local teacher on the split, (c) students
    python bench/quality/run.py selftrain --teacher-run qwenlex   # (c) one self-training round
    python bench/quality/run.py simulated             # (d) students from the simulated strong teacher
    python bench/quality/run.py causal                # (e) the causal student
    python bench/quality/run.py table                 # README.md table from results/*.json

``teacher --teacher-run NAME`` reads ``runs/NAME-test`` and ``runs/NAME-train``, each made by
``python -m llmkd.generate --input bench/quality/data/{test,train}.jsonl --id-column id --label-column label
--teacher SPEC --no-rationale --run bench/quality/runs/NAME-{test,train}``. The teacher's ``gold`` field
is used only to score its labels, never for training or model selection.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import label_runs  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from label_runs import gold_rows  # noqa: E402

from llmkd.evaluate import EvaluateConfig, evaluate  # noqa: E402
from llmkd.finetune import finetune  # noqa: E402
from llmkd.run.files import read_jsonl, write_json, write_jsonl  # noqa: E402
from llmkd.training.config import FinetuneConfig  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RUNS = HERE / "runs"
RESULTS = HERE / "results"
TRAIN, TEST = DATA / "train.jsonl", DATA / "test.jsonl"
LABELS = ["positive", "negative", "neutral"]
ENCODER: dict[str, Any] = {"full": True, "epochs": 3, "max_length": 64, "batch_size": 32, "seed": 42}
LORA: dict[str, Any] = {}  # --lora-targets, for the LoRA variants only
DEFAULT_SELFTRAIN_SOURCE = "c_qwenlex-soft-teachers-agree-lora_pooler"
SUBSET: dict[str, Any] = {"train": None, "suffix": ""}  # --train-limit N: first N train items; --suffix


def subset(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows[: SUBSET["train"]] if SUBSET["train"] else rows


def machine() -> dict[str, Any]:
    return {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()}


def save(name: str, result: dict[str, Any]) -> None:
    result = {"name": name, "machine": machine(), **result}
    write_json(RESULTS / f"{name}.json", result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (dict, list))}, indent=1))


def new_run(name: str, rows: list[dict[str, Any]], task: str = "fin-sentiment") -> Path:
    """``runs/<name>`` holding ``labels.jsonl`` = ``rows`` (and nothing else from earlier attempts)."""
    return label_runs.new_run(RUNS / name, rows, task)


def train_and_score(
    run: Path, time_teacher: bool = False, teacher_labels: Path | None = None, **flags: Any
) -> dict[str, Any]:
    """Fine-tune the student in ``run`` and score it on the 1,212 test sentences (the local teacher,
    when ``time_teacher``, timed on 32 test texts); writes the run's report.md and report.html."""
    started = time.perf_counter()
    metrics = finetune(FinetuneConfig(run=str(run), **flags))
    train_s = time.perf_counter() - started
    config = EvaluateConfig(
        run=str(run),
        gold=str(TEST),
        time_teacher=time_teacher,
        plots=True,
        teacher_timing_items=32,
        teacher_labels=[str(teacher_labels)] if teacher_labels else [],
    )
    result = evaluate(config)
    s = result["student"]
    extra = {
        "teacher_speed": result.get("teacher_speed") or {},
        "speedup_vs_local_teacher": result.get("speedup_vs_local_teacher"),
        "cost": result.get("cost"),
        "agreement_with_teacher": result.get("agreement"),
        "teacher_on_test": {k: (result["teacher"] or {}).get(k) for k in ("n", "accuracy", "weighted_f1")},
    }
    return {
        **extra,
        "accuracy": s["accuracy"],
        "macro_f1": s["macro_f1"],
        "weighted_f1": s["weighted_f1"],
        "ece": s["ece"],
        "n_test": s["n"],
        "n_train": metrics["n_train"],
        "n_val": metrics["n_val"],
        "train_wall_s": round(train_s, 1),
        "held_out_accuracy_by_epoch": [
            round(h["eval_accuracy"], 4) for h in metrics.get("log_history", []) if "eval_accuracy" in h
        ],
        "student_items_per_s": round(s["throughput_items_per_s"], 1),
        "flags": {k: v for k, v in flags.items()},
        "train_limit": SUBSET["train"],
    }


def teacher_accuracy(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy and weighted F1 of ok teacher labels against the records' ``gold``."""
    from llmkd.evaluation.metrics import classification_metrics

    scored = [r for r in rows if r.get("status") == "ok" and r.get("gold") and r.get("label")]
    m = classification_metrics([r["label"] for r in scored], [r["gold"] for r in scored], LABELS)
    return {"n": len(scored), "accuracy": m["accuracy"], "weighted_f1": m["weighted_f1"]}


def exp_gold(args: argparse.Namespace) -> None:
    run = new_run(f"gold{SUBSET['suffix']}", subset(gold_rows(TRAIN)))
    result = train_and_score(run, **{**ENCODER, "alpha": 0.0, "epochs": args.epochs or 3})
    save(
        f"a_gold_minilm{SUBSET['suffix']}",
        {"what": "MiniLM full fine-tune on gold labels (upper bound)", **result},
    )


# --- teacher labels ------------------------------------------------------------------------------


def simulated_labels() -> tuple[Path, Path, float]:
    """Label train and test with the simulated teacher (loopback server); returns both run dirs."""
    import os
    import subprocess
    import sys

    from llmkd.generate import main as generate

    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE.parent / "simulated_teacher.py"),
            "--gold",
            str(TRAIN),
            "--gold",
            str(TEST),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    started = time.perf_counter()
    try:
        port = int(str(server.stdout.readline() if server.stdout else "").strip())
        os.environ.setdefault("OPENAI_API_KEY", "sk-simulated")
        runs = []
        for name, path in (("sim-train", TRAIN), ("sim-test", TEST)):
            run = RUNS / name
            argv = ["--input", str(path), "--label-column", "label", "--no-rationale", "--run", str(run)]
            argv += [
                "--teacher",
                "openai-compatible:simulated-gpt-4",
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
            ]
            generate(argv)
            runs.append(run)
    finally:
        server.terminate()
        server.wait(10)
    return runs[0], runs[1], time.perf_counter() - started


def teacher_records(run: Path) -> list[dict[str, Any]]:
    rows = list(read_jsonl(run / "labels.jsonl"))
    if not rows:
        raise SystemExit(f"{run}/labels.jsonl is empty")
    return rows


def top_prob(row: dict[str, Any]) -> float:
    probs = row.get("probs") or {}
    return max((float(v) for v in probs.values()), default=1.0)


def filter_curve(rows: list[dict[str, Any]], thresholds: list[float]) -> list[dict[str, Any]]:
    """Accuracy against gold of the teacher labels kept at each min-confidence threshold."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("label") and r.get("gold")]
    out = []
    for t in thresholds:
        kept = [r for r in ok if top_prob(r) >= t]
        acc = sum(r["label"] == r["gold"] for r in kept) / len(kept) if kept else None
        out.append(
            {"min_confidence": t, "kept": len(kept), "kept_fraction": len(kept) / len(ok), "accuracy": acc}
        )
    return out


def quantile_threshold(rows: list[dict[str, Any]], drop: float = 0.2) -> float:
    """The top-probability below which the least confident ``drop`` share lies (uses no gold)."""
    return float(np.quantile([top_prob(r) for r in rows if r.get("status") == "ok"], drop))


def distil_variants(
    prefix: str,
    rows: list[dict[str, Any]],
    variants: list[str],
    epochs: int,
    teacher_run: Path | None = None,
    teacher_test_labels: Path | None = None,
    extra_runs: list[str] | None = None,
) -> None:
    """Students from teacher ``rows``: hard (alpha 0) / soft (alpha 0.5, T 2), unfiltered / filtered.

    The filtered set is ``llmkd.filter`` with its defaults, ``--exclude`` the test file and
    ``--min-confidence`` at the teacher's own 20% confidence quantile (a rule that uses no gold label);
    ``*-teachers-agree`` (ensemble runs) keeps instead the records on which all teachers agree.
    """
    from llmkd.filter import main as filter_main

    train_rows = [{**r, "gold": None} for r in subset(rows)]  # gold never reaches training
    threshold = quantile_threshold(rows)
    for variant in variants:
        name = f"{prefix}_{variant}{SUBSET['suffix']}"
        if (RESULTS / f"{name}.json").is_file():
            print(f"skip {name}: results exist")
            continue
        run = new_run(f"{prefix}-{variant}{SUBSET['suffix']}", train_rows)
        timed = teacher_run is not None and variant == variants[0]
        if timed and teacher_run is not None:  # the first variant's report times the local teacher
            (run / "generate_config.json").write_text((teacher_run / "generate_config.json").read_text())
        base = variant.removesuffix("-lora")
        filtered = base.endswith(("filtered", "teachers-agree"))
        info: dict[str, Any] = {}
        if filtered:
            started = time.perf_counter()
            agree = base.endswith("teachers-agree")  # an ensemble run: keep what every teacher agrees on
            argv = ["--run", str(run), "--exclude", str(TEST)]
            argv += (
                ["--min-confidence", "0", "--min-agreement", "1"]
                if agree
                else ["--min-confidence", f"{threshold:.4f}"]
            )
            filter_main([*argv, "--no-progress"])
            report = json.loads((run / "filter_report.json").read_text())
            kept = sum(1 for _ in read_jsonl(run / "filtered.jsonl"))
            info = {
                "filter_min_confidence": threshold,
                "filter_kept": kept,
                "filter_s": time.perf_counter() - started,
            }
            info["filter_removed"] = report.get("removed_by_reason") or report.get("reasons")
        if variant in {"crossfit", "crossfit-agree", "crossfit-cleanlab"}:  # crossfit: all relabelled
            relabelled = cross_fitted(f"{prefix}-xfit{SUBSET['suffix']}", train_rows, epochs)
            agree = [r for r, t in zip(relabelled, train_rows, strict=True) if r["label"] == t["label"]]
            chosen = {"crossfit": relabelled, "crossfit-agree": agree}.get(variant) or [
                t
                for t, issue in zip(train_rows, label_issues(train_rows, relabelled), strict=True)
                if not issue
            ]
            write_jsonl(run / "labels.jsonl", chosen)
            info = {
                "relabelled_changed": sum(
                    r["label"] != t["label"] for r, t in zip(relabelled, train_rows, strict=True)
                ),
                "kept": len(chosen),
            }
        flags = student_flags(epochs, soft=variant.startswith("soft"), lora=variant.endswith("lora"))
        result = train_and_score(run, time_teacher=timed, teacher_labels=teacher_test_labels, **flags)
        what = f"MiniLM from {prefix} teacher, {variant}"
        save(name, {"what": what, "extra_runs": extra_runs or [], **info, **result})


def student_flags(epochs: int, soft: bool, lora: bool) -> dict[str, Any]:
    """``FinetuneConfig`` flags: the bench's encoder settings, soft (alpha 0.5, T 2) or hard labels, and
    llmkd.finetune's default LoRA (r 8, lr 5e-4) or the full fine-tune."""
    flags = {**ENCODER, "epochs": epochs, "alpha": 0.5 if soft else 0.0, "temperature": 2.0}
    return {**flags, "full": False, "lr": None, **LORA} if lora else flags


def cross_fitted(name: str, rows: list[dict[str, Any]], epochs: int) -> list[dict[str, Any]]:
    """``rows`` relabelled by cross-fitting: a student trained on one half of the teacher labels labels
    the other half, and the other way round, so no record is labelled by a model that saw its teacher
    label. A student generalises past its teacher's random mistakes; this keeps that, with no gold."""
    order = np.random.default_rng(0).permutation(len(rows))
    halves = [sorted(order[: len(rows) // 2].tolist()), sorted(order[len(rows) // 2 :].tolist())]
    out: list[dict[str, Any] | None] = [None] * len(rows)
    for k, (fit, apply) in enumerate(((halves[0], halves[1]), (halves[1], halves[0]))):
        run = RUNS / f"{name}{k}"
        if not (run / "student").is_dir():  # shared by the crossfit variants
            run = new_run(f"{name}{k}", [rows[i] for i in fit])
            finetune(FinetuneConfig(run=str(run), **{**ENCODER, "epochs": epochs, "alpha": 0.0}))
        for i, row in zip(
            apply, relabelled_by_students([run / "student"], [rows[i] for i in apply]), strict=True
        ):
            out[i] = row
    return [r for r in out if r is not None]


def label_issues(rows: list[dict[str, Any]], out_of_fold: list[dict[str, Any]]) -> list[bool]:
    """Confident learning (cleanlab): which teacher labels look wrong given out-of-fold student
    probabilities (the teacher's label is kept on the others)."""
    from cleanlab.filter import find_label_issues

    labels = np.array([LABELS.index(r["label"]) for r in rows])
    probs = np.array([[float(r["probs"][x]) for x in LABELS] for r in out_of_fold])
    return [bool(x) for x in find_label_issues(labels, probs / probs.sum(1, keepdims=True))]


def student_probs(
    students: list[Any], texts: list[str], max_length: int
) -> tuple[list[np.ndarray], list[str]]:
    """Each loaded ``(model, tokenizer)`` student's class probabilities for ``texts``, and the label names
    of their columns."""
    from llmkd.students.encoder import predict_probs

    probs = [predict_probs(m, t, texts, max_length=max_length, progress=False) for m, t in students]
    config = students[0][0].config
    return probs, [config.id2label[i] for i in range(probs[0].shape[1])]


def relabelled_by_students(students: list[Path], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` relabelled by trained students: the argmax of their mean probabilities and those
    probabilities replace the teacher's."""
    from llmkd.students.encoder import load_student

    per_student, names = student_probs([load_student(s) for s in students], [r["text"] for r in rows], 64)
    return [
        {
            **r,
            "label": names[int(p.argmax())],
            "probs": dict(zip(names, p.tolist(), strict=True)),
            "status": "ok",
            "prob_method": "student",
        }
        for r, p in zip(rows, np.mean(per_student, axis=0), strict=True)
    ]


def exp_teacher(args: argparse.Namespace) -> None:
    """A local teacher's labels of the whole split: test accuracy (all 1,212), train accuracy and filter
    curve (gold read only to score), raw and batch-calibrated; then students from its train labels."""
    name = args.teacher_run
    test_rows = teacher_records(RUNS / f"{name}-test")
    train_rows = teacher_records(RUNS / f"{name}-train")
    settings = json.loads((RUNS / f"{name}-train" / "generate_config.json").read_text())
    for form, convert in (("raw", lambda rows: rows), ("batchcal", batch_calibrated)):
        test, train = convert(test_rows), convert(train_rows)
        save(
            f"t_{name}_{form}",
            {
                "what": f"local teacher {settings.get('teacher')} ({form}) vs gold, gold used only to score",
                "teacher": settings.get("teacher"),
                "form": form,
                "test": teacher_accuracy(test),
                "train": teacher_accuracy(train),
                "predicted_label_counts_test": {x: sum(r.get("label") == x for r in test) for x in LABELS},
                "filter_curve_train": filter_curve(train, [0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
            },
        )
    if args.variants:
        rows = batch_calibrated(train_rows) if args.batch_calibrated else train_rows
        for extra in args.extra_run or []:  # more unlabelled text, labelled by the same teachers
            rows = rows + teacher_records(RUNS / extra)
        prefix = f"c_{name}{'cal' if args.batch_calibrated else ''}"
        distil_variants(
            prefix,
            rows,
            args.variants,
            args.epochs or 3,
            teacher_run=RUNS / f"{name}-train",
            teacher_test_labels=RUNS / f"{name}-test" / "labels.jsonl",
            extra_runs=args.extra_run,
        )


def exp_simulated(args: argparse.Namespace) -> None:
    """(d) the simulated strong teacher: its own test scores, the filter curve, and students."""
    if (
        not (RUNS / "sim-train" / "labels.jsonl").is_file()
        or not (RESULTS / "d_simulated_teacher.json").is_file()
    ):
        train_run, test_run, wall = simulated_labels()
        test_acc = teacher_accuracy(teacher_records(test_run))
        train_acc = teacher_accuracy(teacher_records(train_run))
        rows = teacher_records(train_run)
        save(
            "d_simulated_teacher",
            {
                "what": "SIMULATED teacher (bench/simulated_teacher.py), not a real LLM",
                "test": test_acc,
                "train": train_acc,
                "label_wall_s": round(wall, 1),
                "filter_curve_train": filter_curve(rows, [0.0, 0.5, 0.6, 0.7, 0.8, 0.9]),
            },
        )
    rows = teacher_records(RUNS / "sim-train")
    variants = args.variants or ["soft", "hard", "soft-filtered", "hard-filtered"]
    test_labels = RUNS / "sim-test" / "labels.jsonl"
    distil_variants("d_sim", rows, variants, args.epochs or 2, teacher_test_labels=test_labels)


def batch_calibrated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Divide each record's probabilities by the teacher's mean distribution over all records, renormalise
    and relabel (batch calibration, Zhou et al. 2023): removes the teacher's label prior with no gold."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("probs")]
    prior = np.array([[float(r["probs"][x]) for x in LABELS] for r in ok]).mean(axis=0)
    out = []
    for r in rows:
        if r not in ok:
            out.append(r)
            continue
        p = np.array([float(r["probs"][x]) for x in LABELS]) / prior
        p /= p.sum()
        probs = dict(zip(LABELS, p.tolist(), strict=True))
        out.append({**r, "probs": probs, "label": LABELS[int(p.argmax())], "prob_method": "batch-calibrated"})
    return out


def exp_causal(args: argparse.Namespace) -> None:
    """(e) the causal student (SmolLM2-135M + LoRA, llmkd.finetune's causal defaults) from the simulated
    teacher, on the first ``--limit`` train items."""
    limit = args.limit or 300
    rows = [{**r, "gold": None} for r in teacher_records(RUNS / "sim-train")][:limit]
    name = f"e_causal{SUBSET['suffix']}"
    run = new_run(name.replace("_", "-"), rows)
    started = time.perf_counter()
    flags = {"epochs": args.epochs or 1, "batch_size": 8, "seed": 42, **LORA}
    if args.lr:
        flags["lr"] = args.lr
    metrics = finetune(FinetuneConfig(run=str(run), student_kind="causal", **flags))
    train_s = time.perf_counter() - started
    test_limit = args.test_limit
    result = evaluate(
        EvaluateConfig(run=str(run), gold=str(TEST), time_teacher=False, plots=False, limit=test_limit)
    )
    s = result["student"]
    config = json.loads((run / "finetune_config.json").read_text())
    save(
        name,
        {
            "what": f"SmolLM2-135M LoRA causal student from the SIMULATED teacher, first {limit} train items",
            "accuracy": s["accuracy"],
            "macro_f1": s["macro_f1"],
            "weighted_f1": s["weighted_f1"],
            "recall": {k: round(v["recall"], 3) for k, v in s["per_class"].items()},
            "n_test": s["n"],
            "n_train": metrics["n_train"],
            "n_val": metrics["n_val"],
            "held_out_accuracy": metrics["held_out_accuracy"],
            "trainable_parameters": metrics["trainable_parameters"],
            "flags": {k: config.get(k) for k in ("epochs", "lr", "lora_r", "lora_targets", "batch_size")},
            "train_wall_s": round(train_s, 1),
            "student_items_per_s": round(s["throughput_items_per_s"], 2),
        },
    )


def exp_selftrain(args: argparse.Namespace) -> None:
    """(c) one round of self-training: the records a filtered student run kept keep their teacher labels,
    the ones the filter dropped take the trained student's soft labels (the mean of several students'
    with ``--from-run`` repeated: runs of one recipe with other seeds, so the same filter), and a new
    student (LoRA, the defaults) trains on all of them. No gold anywhere."""
    sources = [RUNS / name for name in args.from_run or [DEFAULT_SELFTRAIN_SOURCE]]
    kept = {r["id"] for r in read_jsonl(sources[0] / "filtered.jsonl")}
    if any({r["id"] for r in read_jsonl(s / "filtered.jsonl")} != kept for s in sources[1:]):
        raise SystemExit("--from-run: the runs' filters kept different records; use runs of one recipe")
    rows = [{**r, "gold": None} for r in teacher_records(RUNS / f"{args.teacher_run}-train")]
    dropped = [r for r in rows if r["id"] not in kept]
    students = [s / "student" for s in sources]
    relabelled = dict(zip([r["id"] for r in dropped], relabelled_by_students(students, dropped), strict=True))
    rows = [relabelled.get(r["id"], r) for r in rows]
    name = f"c_{args.teacher_run}_selftrain{SUBSET['suffix']}"
    run = new_run(f"c_{args.teacher_run}-selftrain{SUBSET['suffix']}", rows)
    test_labels = RUNS / f"{args.teacher_run}-test" / "labels.jsonl"
    flags = student_flags(args.epochs or 3, soft=True, lora=True)
    result = train_and_score(run, teacher_labels=test_labels, **flags)
    what = f"self-training from {', '.join(s.name for s in sources)}"
    save(name, {"what": what, "relabelled": len(dropped), **result})


def exp_seedmix(args: argparse.Namespace) -> None:
    """(c) do several seeds of one student recipe (``--from-run``, repeated) make different mistakes? Test
    accuracy of each, of their mean probabilities (an ensemble, N times slower) and of their mean weights
    (a uniform model soup, Wortsman et al. 2022: one model, as fast as each)."""
    from llmkd.evaluation.metrics import accuracy
    from llmkd.students.encoder import load_student

    if len(args.from_run or []) < 2:
        raise SystemExit("seedmix: give --from-run at least twice")
    test = gold_rows(TEST)
    texts, gold = [r["text"] for r in test], [r["label"] for r in test]
    students = [load_student(RUNS / name / "student") for name in args.from_run]
    probs, names = student_probs(students, texts, 128)
    states = [m.state_dict() for m, _ in students]
    soup, tokenizer = students[0]
    soup.load_state_dict(
        {
            k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[0].items()
        }
    )
    (soup_probs,), _ = student_probs([(soup, tokenizer)], texts, 128)

    def score(p: np.ndarray) -> float:
        return accuracy([names[int(i)] for i in p.argmax(axis=1)], gold)

    save(
        f"c_{args.teacher_run}_seedmix{SUBSET['suffix']}",
        {
            "what": "several seeds of one student: each, their probability mean, their weight mean",
            "runs": args.from_run,
            "each": [score(p) for p in probs],
            "ensemble": score(np.mean(probs, axis=0)),
            "soup": score(soup_probs),
            "n_test": len(test),
        },
    )


EXPERIMENTS: dict[str, Callable[[argparse.Namespace], None]] = {
    "gold": exp_gold,
    "simulated": exp_simulated,
    "causal": exp_causal,
    "teacher": exp_teacher,
    "selftrain": exp_selftrain,
    "seedmix": exp_seedmix,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="llmkd quality benchmark on Financial PhraseBank")
    parser.add_argument("experiment", choices=[*EXPERIMENTS, "table"])
    parser.add_argument("--epochs", type=int, default=None, help="override the encoder epochs")
    parser.add_argument("--limit", type=int, default=None, help="causal: train items")
    parser.add_argument("--test-limit", type=int, default=None, help="causal: test items scored")
    parser.add_argument("--variants", nargs="*", default=None, help="which student variants to train")
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N train items")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--suffix", default="", help="appended to result and run names")
    parser.add_argument("--lr", type=float, default=None, help="encoder learning rate (default 5e-5)")
    parser.add_argument("--teacher-run", default="qwen", help="teacher: runs/NAME-test and runs/NAME-train")
    parser.add_argument(
        "--batch-calibrated", action="store_true", help="teacher: distil from batch-calibrated labels"
    )
    parser.add_argument(
        "--pooling",
        choices=["auto", "head", "mean"],
        default=None,
        help="encoder head (default: llmkd.finetune's, head)",
    )
    parser.add_argument("--seed", type=int, default=None, help="student seed (default 42)")
    parser.add_argument(
        "--extra-run", action="append", help="teacher: also train on runs/NAME/labels.jsonl (repeatable)"
    )
    parser.add_argument(
        "--from-run",
        action="append",
        help="selftrain: the filtered student run whose student relabels what its filter dropped (repeatable: "
        f"their mean; default {DEFAULT_SELFTRAIN_SOURCE}); seedmix: the runs to mix (at least two)",
    )
    parser.add_argument(
        "--class-weights", choices=["none", "balanced"], default=None, help="finetune --class-weights"
    )
    parser.add_argument("--lora-targets", default=None, help="finetune --lora-targets (LoRA variants)")
    args = parser.parse_args()
    np.random.seed(0)
    torch.set_num_threads(args.threads)
    SUBSET["train"] = args.train_limit
    SUBSET["suffix"] = args.suffix
    if args.lr:
        ENCODER["lr"] = args.lr
    if args.pooling:
        ENCODER["pooling"] = args.pooling
    if args.seed is not None:
        ENCODER["seed"] = args.seed
    if args.class_weights:
        ENCODER["class_weights"] = args.class_weights
    if args.lora_targets:
        LORA["lora_targets"] = args.lora_targets
    if args.experiment == "table":
        from table import write_table

        write_table()
    else:
        EXPERIMENTS[args.experiment](args)


if __name__ == "__main__":
    main()
