"""Local-teacher variants on Financial PhraseBank: accuracy on dev and test, and label-scoring speed.

Data (FinGPT protocol, ``../shared/data/financial_phrasebank/Sentences_50Agree.txt``): sklearn
``train_test_split(rows in file order, test_size=0.25, random_state=42)`` -> 3,634 train / 1,212 test.
dev = ``random.Random(0).sample(train, 200)``; the few-shot pool is the rest of train (dev texts removed);
test = the first ``--test`` of a seed-0 shuffle of the test split (all 1,212 with ``--test 0``).

Variants per model: prompt form (zero-shot, the task file's 6 shots, 6 pool shots balanced per label with
seed 0, 6 nearest pool shots by TF-IDF) x label prefix ("" or " ") x contextual calibration (off/on). One
scoring pass per form scores both prefixes; calibration is applied to the same scores. Choose defaults on dev.

Speed: items/s of batched, prefix-cached label scoring vs batched scoring without the cache vs a naive
per-item ``model.generate`` of the label text (greedy, 3 new tokens), on the same test sentences.

Run: ``.venv/bin/python bench/local_teacher.py`` (writes bench/results/local_teacher.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from tqdm import tqdm  # noqa: E402

from llmkd.io.task import load_task  # noqa: E402
from llmkd.run.files import write_json  # noqa: E402
from llmkd.scoring.label_scoring import label_logprobs  # noqa: E402
from llmkd.teachers import TeacherOptions  # noqa: E402
from llmkd.teachers.calibration import CONTENT_FREE, calibrate, content_free_prior  # noqa: E402
from llmkd.teachers.local import LocalTeacher  # noqa: E402

PHRASEBANK = ROOT.parent / "shared" / "data" / "financial_phrasebank" / "Sentences_50Agree.txt"
MODELS = {"smollm2": "local", "qwen": "local:qwen2.5-coder-0.5b"}
FORMS = ("zero", "task", "pool-random", "pool-similar")


def load_splits(
    n_dev: int, n_test: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(dev, test, pool) lists of (sentence, label)."""
    lines = PHRASEBANK.read_text(encoding="utf-8-sig").splitlines()
    rows = [(t.strip(), lab.strip()) for t, _, lab in (ln.rpartition("@") for ln in lines if ln.strip())]
    train, test = train_test_split(rows, test_size=0.25, random_state=42)
    dev = random.Random(0).sample(train, n_dev)
    shuffled = random.Random(0).sample(test, len(test))
    test_eval = shuffled if n_test < 0 else shuffled[:n_test]
    dev_texts = {t for t, _ in dev}
    pool = list({t: (t, lab) for t, lab in train if t not in dev_texts}.values())
    return dev, test_eval, pool


def metrics(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, Any]:
    return {
        "accuracy": round(float(accuracy_score(gold, pred)), 4),
        "macro_f1": round(float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)), 4),
        "weighted_f1": round(
            float(f1_score(gold, pred, labels=labels, average="weighted", zero_division=0)), 4
        ),
        "predicted": dict(Counter(pred)),
    }


def teacher_for(spec: str, form: str, pool_path: str, lm: Any, task: Any) -> LocalTeacher:
    options = TeacherOptions(
        rationale=False,
        few_shot=form != "zero",
        few_shot_pool=pool_path if form.startswith("pool") else None,
        few_shot_select="similar" if form == "pool-similar" else "random",
        few_shot_k=6,
        few_shot_seed=0,
        calibrate=False,
        label_prefix="",
        batch_size=16,
    )
    teacher = LocalTeacher.from_spec(spec, task, options)
    if lm is not None:
        teacher.attach(lm)
    return teacher


def score_form(
    teacher: LocalTeacher, texts: list[str], batch: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Scores (N, 2L) for both label prefixes, content-free scores (3, 2L), and items/s."""
    ids = teacher.label_token_ids("") + teacher.label_token_ids(" ")
    prior_scores = teacher.label_scores(CONTENT_FREE, ids, content_free=True)
    start = time.perf_counter()
    out = []
    for i in tqdm(range(0, len(texts), batch), desc=f"{teacher.model} scoring", leave=False):
        out.append(teacher.label_scores(texts[i : i + batch], ids))
    return torch.cat(out), prior_scores, len(texts) / (time.perf_counter() - start)


def variants(
    scores: torch.Tensor, prior_scores: torch.Tensor, n_labels: int
) -> dict[tuple[str, bool], torch.Tensor]:
    """(label_prefix, calibrate) -> (N, L) label distributions."""
    result = {}
    for k, prefix in enumerate(("", " ")):
        cols = slice(k * n_labels, (k + 1) * n_labels)
        probs = torch.softmax(scores[:, cols], dim=-1)
        prior = content_free_prior(torch.softmax(prior_scores[:, cols], dim=-1))
        result[(prefix, False)] = probs
        result[(prefix, True)] = calibrate(probs, prior)
    return result


@torch.inference_mode()
def speed(teacher: LocalTeacher, texts: list[str], n_naive: int, batch: int) -> dict[str, Any]:
    """items/s: prefix-cached batched scoring, batched scoring without the cache, naive per-item generate."""
    lm, tok = teacher.lm, teacher.tokenizer
    teacher.label_scores(texts[:2])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        teacher.label_scores(texts[i : i + batch])
    cached = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        full = [teacher._encode(teacher.prompt(t)) for t in texts[i : i + batch]]
        label_logprobs(lm, full, teacher.label_ids, pad_id=int(tok.pad_token_id))
    uncached = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    answers = []
    for text in texts[:n_naive]:
        enc = tok(teacher.prompt(text), return_tensors="pt", add_special_tokens=False)
        out = lm.generate(**enc, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
        answers.append(tok.decode(out[0, enc.input_ids.shape[1] :], skip_special_tokens=True).strip())
    naive = n_naive / (time.perf_counter() - start)
    return {
        "items_batched_cached": len(texts),
        "items_naive": n_naive,
        "batch_size": batch,
        "prefix_tokens": len(teacher._prefix_ids),
        "batched_cached_items_per_s": round(cached, 2),
        "batched_uncached_items_per_s": round(uncached, 2),
        "naive_generate_items_per_s": round(naive, 2),
        "speedup_vs_naive": round(cached / naive, 1),
        "naive_answers_sample": answers[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2,qwen")
    parser.add_argument("--task", default="fin-sentiment", help="task name or YAML path")
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--dev", type=int, default=200)
    parser.add_argument("--test", type=int, default=400, help="first N of a seed-0 shuffle of test; -1 = all")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--speed-only", action="store_true", help="measure speed on test sentences only")
    parser.add_argument("--merge", nargs="*", default=None, help="combine the JSON results of earlier runs")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--speed-items", type=int, default=32)
    parser.add_argument("--naive-items", type=int, default=12)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "local_teacher.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        merge([Path(p) for p in args.merge], Path(args.out))
        return

    task = load_task(args.task)
    labels = task.labels
    dev, test, pool = load_splits(args.dev, args.test)
    texts = [t for t, _ in dev] + [t for t, _ in test]
    gold_dev, gold_test = [lab for _, lab in dev], [lab for _, lab in test]
    tmp = tempfile.TemporaryDirectory()
    pool_path = str(Path(tmp.name) / "pool.jsonl")
    Path(pool_path).write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in pool))

    rows: list[dict[str, Any]] = []
    probs_by: dict[tuple[str, str, str, bool], torch.Tensor] = {}
    speeds: list[dict[str, Any]] = []
    for model_key in args.models.split(","):
        spec = MODELS[model_key]
        lm = None
        for form in args.forms.split(","):
            teacher = teacher_for(spec, form, pool_path, lm, task)
            lm = teacher.lm
            if args.speed_only:
                texts = []
            scores, prior_scores, rate = (
                score_form(teacher, texts, args.batch) if texts else (None, None, 0.0)
            )
            if scores is None:
                speed_texts = [t for t, _ in test[: args.speed_items]]
                result = speed(teacher, speed_texts, args.naive_items, args.batch)
                speeds.append({"model": teacher.model, "form": form, **result})
                print(f"speed {teacher.model} {form}: {result}", flush=True)
                continue
            for (prefix, cal), probs in variants(scores, prior_scores, len(labels)).items():
                pred = [labels[int(i)] for i in probs.argmax(-1)]
                probs_by[f"{teacher.model}|{form}|{prefix}|{cal}"] = probs
                row = {
                    "model": teacher.model,
                    "form": form,
                    "label_prefix": prefix,
                    "calibrate": cal,
                    "dev": metrics(gold_dev, pred[: len(dev)], labels),
                    "test": metrics(gold_test, pred[len(dev) :], labels) if test else None,
                    "scoring_items_per_s": round(rate, 2),
                }
                rows.append(row)
                print(
                    f"{teacher.model:28s} {form:13s} prefix={prefix!r:4s} cal={cal!s:5s} "
                    f"dev acc {row['dev']['accuracy']:.3f} F1 {row['dev']['macro_f1']:.3f} | test "
                    + (
                        f"acc {row['test']['accuracy']:.3f} F1 {row['test']['macro_f1']:.3f}" if test else "-"
                    ),
                    flush=True,
                )
            if form in {"zero", "task"} and args.speed_items:
                result = speed(
                    teacher, [t for t, _ in test[: args.speed_items]], args.naive_items, args.batch
                )
                speeds.append({"model": teacher.model, "form": form, **result})
                print(f"speed {teacher.model} {form}: {result}", flush=True)
        del lm

    result = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "task": str(task.path.relative_to(ROOT)) if task.path.is_relative_to(ROOT) else str(task.path),
        "data": {
            "source": str(PHRASEBANK.relative_to(ROOT.parent)),
            "protocol": "train_test_split(rows, test_size=0.25, random_state=42)",
            "dev": f"random.Random(0).sample(train, {args.dev})",
            "test": f"first {len(test)} of random.Random(0).sample(test, 1212)",
            "pool": f"train minus dev texts, deduplicated ({len(pool)} sentences)",
            "n_dev": len(dev),
            "n_test": len(test),
        },
        "variants": rows,
        "speed": speeds,
        "probs_file": str(Path(tempfile.gettempdir()) / (Path(args.out).stem + ".probs.pt")),
    }
    torch.save(probs_by, result["probs_file"])
    write_json(Path(args.out), summarise(result, probs_by, gold_dev, gold_test, labels))
    print(f"wrote {args.out}")


def summarise(
    result: dict[str, Any],
    probs_by: dict[str, torch.Tensor],
    gold_dev: list[str],
    gold_test: list[str],
    labels: list[str],
) -> dict[str, Any]:
    """Add the dev-selected default per model (best macro-F1 among variants that need no pool file: accuracy
    alone rewards answering the majority label, neutral) and their ensemble."""
    rows = result["variants"]
    selected = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        cands = [r for r in rows if r["model"] == model and not r["form"].startswith("pool")]
        best = max(cands, key=lambda r: (r["dev"]["macro_f1"], r["dev"]["accuracy"]))
        selected[model] = {k: best[k] for k in ("form", "label_prefix", "calibrate", "dev", "test")}
    ensembles = []
    keys = [f"{m}|{s['form']}|{s['label_prefix']}|{s['calibrate']}" for m, s in selected.items()]
    n = len(gold_dev) + len(gold_test)
    if len(keys) > 1 and all(k in probs_by and len(probs_by[k]) == n for k in keys):
        mean = torch.stack([probs_by[k] for k in keys]).mean(0)
        pred = [labels[int(i)] for i in mean.argmax(-1)]
        ensembles.append(
            {
                "members": keys,
                "dev": metrics(gold_dev, pred[: len(gold_dev)], labels),
                "test": metrics(gold_test, pred[len(gold_dev) :], labels) if gold_test else None,
            }
        )
        print(f"ensemble (probability average of the dev-selected variants): {ensembles[-1]}")
    return {**result, "selected_on_dev": selected, "ensemble": ensembles}


def merge(paths: list[Path], out: Path) -> None:
    """Combine several runs (e.g. one per model, run in parallel) into one results file."""
    parts = [json.loads(p.read_text()) for p in paths]
    data = parts[0]["data"]
    dev, test, _ = load_splits(data["n_dev"], data["n_test"])
    rows, speeds, probs_by = [], [], {}
    for part in parts:
        same = part["data"]["n_dev"] == data["n_dev"] and part["data"]["n_test"] == data["n_test"]
        rows += [{**r, "test": r["test"] if part["data"]["n_test"] else None} for r in part["variants"]]
        speeds += part["speed"]
        if same:
            probs_by.update(torch.load(part["probs_file"]))
    result = {**parts[0], "variants": rows, "speed": speeds, "merged_from": [str(p) for p in paths]}
    labels = load_task("fin-sentiment").labels
    final = summarise(result, probs_by, [lab for _, lab in dev], [lab for _, lab in test], labels)
    write_json(out, final)
    for r in rows:
        test_part = (
            f"test acc {r['test']['accuracy']:.3f} F1 {r['test']['macro_f1']:.3f}" if r["test"] else "test -"
        )
        print(
            f"{r['model']:28s} {r['form']:13s} prefix={r['label_prefix']!r:4s} cal={r['calibrate']!s:5s} "
            f"dev acc {r['dev']['accuracy']:.3f} F1 {r['dev']['macro_f1']:.3f} | {test_part}"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
