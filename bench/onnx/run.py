"""ONNX benchmark: a MiniLM student as torch fp32, ONNX fp32 and ONNX int8 on the PhraseBank test split.

Same process, 2 threads (``torch.set_num_threads(2)``, onnxruntime ``intra_op_num_threads=2``), batch 32,
each backend timed over the 1,212 test sentences (FinGPT split: ``train_test_split(test_size=0.25,
random_state=42)`` of ``Sentences_50Agree.txt``), once in file order and once in order of length (dynamic
padding to the batch's longest text either way). The int8 setting is chosen by ``llmkd export --format
onnx`` on the run's own training texts, never on the test split.

    python bench/onnx/run.py prepare --from-run bench/seed/runs/tweets-simulated-n200-d0  # (bench/seed)
                                       # copy that run's student + training texts to runs/student-run
    python bench/onnx/run.py train [--epochs N]  # or: runs/gold, MiniLM on the 3,634 train gold labels
    python bench/onnx/run.py bench --run bench/onnx/runs/gold [--no-export]  # results/throughput-gold.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT, ROOT / "bench" / "quality"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from split import write_split  # noqa: E402

from llmkd.run.files import read_jsonl, write_json, write_jsonl  # noqa: E402

RUNS = HERE / "runs"
DATA = RUNS / "data"
RESULTS = HERE / "results"
THREADS, BATCH = 2, 32
TRAIN_FLAGS: dict[str, Any] = {  # bench/quality's MiniLM recipe on gold labels (a_gold_minilm)
    "full": True,
    "epochs": 3,
    "max_length": 64,
    "batch_size": 32,
    "seed": 42,
    "alpha": 0.0,
    "pooling": "mean",
}
RUN_FILES = ("generate_config.json", "filtered.jsonl", "labels.jsonl", "finetune_config.json")


def prepare(args: argparse.Namespace) -> None:
    """Copy ``--from-run``'s student (no ONNX export) and training texts to ``runs/student-run``."""
    source, run = Path(args.from_run), RUNS / "student-run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(source / "student", run / "student", ignore=shutil.ignore_patterns("onnx"))
    for name in RUN_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, run / name)
    where = str(source.resolve())
    write_json(
        run / "source.json", {"copied_from": where[where.find("bench/") :] if "bench/" in where else where}
    )
    print(f"copied {source} to {run}")


def train(args: argparse.Namespace) -> None:
    """Fine-tune MiniLM on the PhraseBank train gold labels in ``runs/gold``."""
    import torch

    from llmkd.finetune import finetune
    from llmkd.training.config import FinetuneConfig

    torch.set_num_threads(THREADS)
    train_path, _test = write_split(out=DATA)
    run = RUNS / "gold"
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / "generate_config.json", {"task": "fin-sentiment"})
    rows = [
        {**r, "probs": None, "status": "ok", "teacher": "gold", "source": "input"}
        for r in read_jsonl(train_path)
    ]
    write_jsonl(run / "labels.jsonl", rows)
    finetune(FinetuneConfig(run=str(run), **{**TRAIN_FLAGS, "epochs": args.epochs}))


def timed(
    predict: Callable[[list[str]], np.ndarray], texts: list[str], by_length: bool
) -> tuple[np.ndarray, float]:
    """Probabilities in input order and items/s; ``by_length`` runs the texts in order of length."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if by_length else list(range(len(texts)))
    predict(texts[:BATCH])  # warm-up, not timed
    started = time.perf_counter()
    probs = predict([texts[i] for i in order])
    elapsed = time.perf_counter() - started
    out = np.zeros_like(probs)
    out[order] = probs
    return out, len(texts) / elapsed


def scores(
    probs: np.ndarray, labels: Sequence[str], gold: Sequence[str], reference: np.ndarray
) -> dict[str, float]:
    said = [labels[i] for i in probs.argmax(axis=1)]
    return {
        "accuracy": float(np.mean([s == g for s, g in zip(said, gold, strict=True)])),
        "agreement_with_torch": float((probs.argmax(1) == reference.argmax(1)).mean()),
    }


def backends(run: Path) -> dict[str, Any]:
    """The students timed: torch fp32, ONNX fp32 and (when the export kept it) ONNX int8, unsorted."""
    from llmkd.students.encoder import EncoderStudent
    from llmkd.students.onnx import FP32_FILE, INT8_FILE, OnnxStudent

    exported = OnnxStudent.load(run / "student", threads=THREADS)
    students: dict[str, Any] = {"torch fp32": EncoderStudent.load(run / "student")}
    for name, file in (("onnx fp32", FP32_FILE), ("onnx int8", INT8_FILE)):
        if (exported.folder / file).is_file():
            students[name] = OnnxStudent(exported.folder, exported.meta, file, threads=THREADS, bucket=False)
    return students


def machine(load_before: tuple[float, ...]) -> dict[str, Any]:
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ort_intra_op_threads": THREADS,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def bench(args: argparse.Namespace) -> None:
    """Export the run's student to ONNX, then time and score each backend, unsorted and length-sorted."""
    import torch

    from llmkd.export import main as export_main
    from llmkd.students.onnx import OnnxMeta, onnx_folder

    torch.set_num_threads(THREADS)
    run = Path(args.run)
    load_before = os.getloadavg()
    started = time.perf_counter()
    if args.export:
        export_main(["--run", str(run), "--format", "onnx"])
    export_s = time.perf_counter() - started if args.export else None
    rows = list(read_jsonl(write_split(out=DATA)[1]))
    texts, gold = [r["text"] for r in rows], [r["label"] for r in rows]
    students = backends(run)
    results: dict[str, Any] = {}
    reference = np.zeros(0)
    for _round in range(args.rounds):  # rounds interleave the backends: load changes hit all of them
        for order in ("file order", "length-sorted"):
            for name, student in students.items():
                probs, speed = timed(
                    lambda t, s=student: s.predict_probs(t, BATCH, progress=False),
                    texts,
                    order != "file order",
                )
                reference = probs if (name, order) == ("torch fp32", "file order") else reference
                key = f"{name}, {order}"
                one = results.setdefault(key, {"items_per_s_rounds": []})
                one["items_per_s_rounds"].append(round(speed, 1))
                one["items_per_s"] = round(float(np.mean(one["items_per_s_rounds"])), 1)
                one.update(scores(probs, student.labels, gold, reference))
                print(key, results[key], flush=True)
    fastest = "onnx int8" if "onnx int8" in students else "onnx fp32"
    speedup = {
        order: round(
            results[f"{fastest}, {order}"]["items_per_s"] / results[f"torch fp32, {order}"]["items_per_s"], 2
        )
        for order in ("file order", "length-sorted")
    }
    meta = OnnxMeta.read(onnx_folder(run / "student"))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    write_json(
        RESULTS / f"throughput-{run.name}.json",
        {
            "split": "Financial PhraseBank Sentences_50Agree, FinGPT test split (1,212 sentences)",
            "student": {
                "made_by": read_source(run),
                "max_length": meta.max_length,
                "parameters": meta.parameters,
            },
            "settings": {
                "threads": THREADS,
                "batch_size": BATCH,
                "rounds": args.rounds,
                "ort_graph_optimization": "ORT_ENABLE_ALL",
            },
            "onnx_export": {
                "wall_s": round(export_s, 1) if export_s is not None else None,
                "export_s_recorded": meta.export_s,
                "model": meta.model,
                "quantization": meta.quantization,
                "dev_agreement": meta.agreement,
                "dev_agreement_low_95": meta.agreement_low,
                "dev_items": meta.dev_items,
            },
            "results": results,
            f"speedup_{fastest.replace(' ', '_')}_vs_torch": speedup,
            "machine": machine(load_before),
            "commit": commit.stdout.strip(),
        },
    )


def read_source(run: Path) -> str:
    """Where the run's student came from."""
    import json

    path = run / "source.json"
    return json.loads(path.read_text())["copied_from"] if path.is_file() else "bench/onnx/run.py train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--from-run", required=True)
    p.set_defaults(func=prepare)
    p = sub.add_parser("train")
    p.add_argument("--epochs", type=int, default=TRAIN_FLAGS["epochs"])
    p.set_defaults(func=train)
    p = sub.add_parser("bench")
    p.add_argument("--run", default=str(RUNS / "student-run"))
    p.add_argument("--rounds", type=int, default=2, help="timed passes per backend and order")
    p.add_argument("--no-export", dest="export", action="store_false", help="reuse student/onnx/")
    p.set_defaults(func=bench)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
