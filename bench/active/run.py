"""Active-distillation benchmark: learning curves (teacher calls -> student accuracy), active vs random.

Settings (pool = what the teacher may be asked about; dev carved from the training side chooses the default
``--select``; test is only reported):
- ``phrasebank``: Financial PhraseBank 50%-agree, the seed benchmark's 75/25 split (``random_state=42``);
  15% of its training side is dev, the rest the pool; SIMULATED GPT-4-class teacher
  (``bench/simulated_teacher.py``, answers fixed per pool text).
- ``tweets``: Twitter Financial News Sentiment ``sent_train.csv``, the seed benchmark's seeded 70/30 split
  (test = its 1,500 test tweets); 15% of the training side is dev; SIMULATED teacher.
- ``fomc``: FOMC stance train rows GPT-4 answered (REAL recorded answers, ``bench/recorded_teacher.py``);
  15% of them dev; test = ``fomc_test.csv``.

Curves use llmkd's own round planner (:func:`llmkd.generation.active.choose_picks`, the same rounds,
seeds and quick probe student as ``generate --budget``) on cached MiniLM embeddings, teacher labels looked
up instead of served. ``crosscheck`` runs the real ``generate --budget`` against the loopback simulated
teacher and checks that it picks the same items; ``finetune`` trains the real default student
(``llmkd finetune``, MiniLM) at the key budgets.

    python bench/active/run.py prepare      # splits + embeddings (bench/active/data, gitignored)
    python bench/active/run.py curves       # probe-student curves -> results/curves.json
    python bench/active/run.py crosscheck   # generate --budget == the planner
    python bench/active/run.py finetune --setting phrasebank --seed 0
    python bench/active/run.py report       # README table + plot
    python bench/active/run.py finetune-report  # the fine-tuned points over seeds: table + plot
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402
from recorded_teacher import read_answers  # noqa: E402
from simulated_teacher import simulated_answers  # noqa: E402
from tweet_splits import tweet_sides  # noqa: E402

from llmkd.generation.active import choose_picks, store_embeddings  # noqa: E402
from llmkd.generation.selection import STRATEGIES, round_sizes  # noqa: E402
from llmkd.io.readers import InputSpec, read_items  # noqa: E402
from llmkd.run.files import read_jsonl, write_json, write_jsonl  # noqa: E402
from llmkd.students.probe import ProbeStudent, embed  # noqa: E402
from llmkd.training.config import FinetuneConfig  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA, RUNS, RESULTS = HERE / "data", HERE / "runs", HERE / "results"
SHARED = ROOT.parent / "shared" / "data"
SETTINGS = ("phrasebank", "tweets", "fomc")
FINETUNE_SETTINGS = (*SETTINGS, "tweets-full")  # every tweet of the training side as the pool (pool_size.py)
LABELS = {
    "phrasebank": ["positive", "negative", "neutral"],
    "tweets": ["positive", "negative", "neutral"],
    "fomc": ["dovish", "hawkish", "neutral"],
}
TASKS = {"fomc": "monetary-policy", "phrasebank": "fin-sentiment", "tweets": "fin-sentiment"}
LABELS["tweets-full"], TASKS["tweets-full"] = LABELS["tweets"], TASKS["tweets"]
STEP, MAX_SHARE = 0.025, 0.30  # rounds of 2.5% of the pool up to 30%: 12 rounds
SEEDS = (0, 1, 2)
TWEET_POOL, TWEET_DEV = 3000, 600  # of ~5,700 / ~1,000: embeddings are the slow part on 2 cores
COMMIT = subprocess.run(
    ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
).stdout.strip()


def key(text: str) -> str:
    return " ".join(text.split())


def _dev_split(
    rows: list[dict[str, Any]], share: float = 0.15
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    order = list(range(len(rows)))
    random.Random(1).shuffle(order)
    cut = round(len(rows) * share)
    return [rows[i] for i in order[cut:]], [rows[i] for i in order[:cut]]


def tweet_pool_dev_test() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The whole tweets pool (the training side minus dev and test texts), its dev carve and the test set."""
    train_side, test_side = tweet_sides(SHARED)
    test_keys = {key(r["text"].casefold()) for r in test_side}
    pool, dev = _dev_split([r for r in train_side if key(r["text"].casefold()) not in test_keys])
    return pool, dev, test_side


def prepare() -> None:
    """Write pool/dev/test splits (text, label = gold, teacher = the teacher's answer) and embeddings."""
    DATA.mkdir(parents=True, exist_ok=True)
    from sklearn.model_selection import train_test_split

    as_rows = lambda items: [{"id": i.id, "text": i.text, "label": i.label} for i in items]  # noqa: E731
    pb = read_items(
        InputSpec(str(SHARED / "financial_phrasebank" / "Sentences_50Agree.txt"), format="phrasebank")
    )
    pb_train, pb_test = train_test_split(pb, test_size=0.25, random_state=42)
    test_keys = {key(i.text.casefold()) for i in pb_test}
    splits = {
        "phrasebank": (
            *_dev_split(as_rows(i for i in pb_train if key(i.text.casefold()) not in test_keys)),
            as_rows(pb_test),
        )
    }
    pool, dev, test_side = tweet_pool_dev_test()
    splits["tweets"] = (pool[:TWEET_POOL], dev[:TWEET_DEV], test_side)
    answers = read_answers()
    fomc = SHARED / "fomc"
    train = [dict(r) for r in csv.DictReader((fomc / "fomc_train.csv").open(encoding="utf-8"))]
    test = [
        {"id": r["id"], "text": r["text"], "label": r["label"]}
        for r in csv.DictReader((fomc / "fomc_test.csv").open(encoding="utf-8"))
    ]
    test_keys = {key(r["text"]) for r in test}
    answered = [
        {"id": r["id"], "text": r["text"], "label": r["label"]}
        for r in train
        if key(r["text"]) in answers and key(r["text"]) not in test_keys
    ]
    splits["fomc"] = (*_dev_split(answered), test)
    for setting, (pool, dev, test_rows) in splits.items():
        if setting == "fomc":
            teacher = {key(r["text"]): answers[key(r["text"])][0] for r in pool}
        else:
            teacher = simulated_answers((key(r["text"]), r["label"]) for r in pool)
        for r in pool:
            r["teacher"] = teacher[key(r["text"])]
        for part, rows in (("pool", pool), ("dev", dev), ("test", test_rows)):
            write_jsonl(DATA / f"{setting}_{part}.jsonl", rows)
            vectors = embed([r["text"] for r in rows], "minilm", progress=True)
            np.save(DATA / f"{setting}_{part}.npy", vectors)
            print(setting, part, len(rows), flush=True)


def load(setting: str, part: str) -> tuple[list[dict[str, Any]], np.ndarray]:
    return list(read_jsonl(DATA / f"{setting}_{part}.jsonl")), np.load(DATA / f"{setting}_{part}.npy")


def accuracy(student: ProbeStudent, vectors: np.ndarray, rows: list[dict[str, Any]]) -> float:
    return float(np.mean([p == r["label"] for p, r in zip(student.predict(vectors), rows, strict=True)]))


def curve(
    setting: str, strategy: str, seed: int, share: float = MAX_SHARE, picks: list[list[int]] | None = None
) -> list[dict[str, Any]]:
    """One ``generate --budget`` (``share`` of the pool, rounds of 2.5%) replayed on cached embeddings: the
    quick student's dev and test accuracy after each round (each round's picks appended to ``picks``)."""
    pool_rows, pool = load(setting, "pool")
    evals = {part: load(setting, part) for part in ("dev", "test")}
    labels = LABELS[setting]
    sizes = round_sizes(round(share * len(pool_rows)), round(share / STEP))
    chosen: list[int] = []
    student: ProbeStudent | None = None
    points = []
    for index, size in enumerate(sizes):
        rng = np.random.default_rng([seed, index])
        new = choose_picks(strategy, index, size, pool, chosen, pool[:0], student, rng)  # type: ignore[arg-type]
        chosen += new
        if picks is not None:
            picks.append(new)
        targets = [pool_rows[i]["teacher"] for i in chosen]
        student = ProbeStudent.fit(pool[chosen], targets, labels) if len(set(targets)) > 1 else None
        point: dict[str, Any] = {"calls": len(chosen), "share": len(chosen) / len(pool_rows)}
        for part, (rows, vectors) in evals.items():
            point[part] = accuracy(student, vectors, rows) if student is not None else None
        points.append(point)
    return points


def full_student(setting: str) -> dict[str, Any]:
    """The quick student trained on every teacher label of the pool (100% of the calls)."""
    pool_rows, pool = load(setting, "pool")
    student = ProbeStudent.fit(pool, [r["teacher"] for r in pool_rows], LABELS[setting])
    out: dict[str, Any] = {"calls": len(pool_rows), "share": 1.0}
    for part in ("dev", "test"):
        rows, vectors = load(setting, part)
        out[part] = accuracy(student, vectors, rows)
    out["teacher_vs_gold_pool"] = float(np.mean([r["teacher"] == r["label"] for r in pool_rows]))
    return out


def environment() -> dict[str, Any]:
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "llmkd", "bench/active/run.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    return {
        "commit": COMMIT,
        "uncommitted_changes": bool(dirty),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "python": platform.python_version(),
        "cpu": f"{os.cpu_count()}-core {platform.machine()}",
        "load_average": os.getloadavg(),
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count(),
    }


def curves() -> None:
    """Every setting x strategy x seed -> results/curves.json."""
    results: dict[str, Any] = {
        "settings": {
            "step_share": STEP,
            "max_share": MAX_SHARE,
            "seeds": list(SEEDS),
            "student": "quick probe: logistic regression (C=4) on frozen MiniLM mean-pooled embeddings",
            "embeddings": "minilm (embedded all-MiniLM-L6-v2), max_length 128",
            "split": "pool / dev (15% of the training side, seeded) / test (seed benchmark's test split)",
        },
        "environment": environment(),
        "sizes": {},
        "full": {},
        "curves": {},
    }
    start = time.perf_counter()
    for setting in SETTINGS:
        results["sizes"][setting] = {p: len(load(setting, p)[0]) for p in ("pool", "dev", "test")}
        results["full"][setting] = full_student(setting)
        for strategy in STRATEGIES:
            for seed in SEEDS:
                results["curves"].setdefault(setting, {}).setdefault(strategy, []).append(
                    curve(setting, strategy, seed)
                )
            print(setting, strategy, f"{time.perf_counter() - start:.0f}s", flush=True)
    results["environment"]["seconds"] = round(time.perf_counter() - start, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "curves.json", results)


def simulated_server(setting: str) -> Any:
    """The loopback teacher of ``setting``: simulated (answers fixed on the pool, as in ``prepare``) or the
    recorded GPT-4 answers."""
    from recorded_teacher import RecordedTeacherServer
    from simulated_teacher import SimulatedTeacherServer

    if setting == "fomc":
        return RecordedTeacherServer(read_answers())
    return SimulatedTeacherServer([[(r["text"], r["label"]) for r in load(setting, "pool")[0]]])


def generate_run(setting: str, strategy: str, seed: int, share: float, explore: float = 0.0) -> Path:
    """``llmkd generate --budget`` on the pool against the loopback teacher; returns the run folder."""
    from llmkd.generate import main as generate_main

    pool_rows = load(setting, "pool")[0]
    budget, rounds = round(share * len(pool_rows)), max(1, round(share / STEP))
    suffix = f"-x{round(explore * 100)}" if explore else ""
    run = RUNS / f"{setting}-{strategy}{suffix}-s{seed}-{round(share * 100)}pct"
    if share < 1.0 and not (run / "active" / "embeddings.npy").is_file():  # prepare's, identical (crosscheck)
        texts = [r["text"] for r in pool_rows]
        store_embeddings(run / "active", texts, "minilm", "embeddings", load(setting, "pool")[1])
    server = simulated_server(setting)
    server.start()
    try:
        flags = ["--input", str(DATA / f"{setting}_pool.jsonl"), "--task", TASKS[setting], "--run", str(run)]
        flags += [
            "--teacher",
            "openai-compatible:" + ("gpt-4-recorded" if setting == "fomc" else "simulated-gpt-4"),
        ]
        flags += ["--base-url", f"http://127.0.0.1:{server.port}/v1", "--no-few-shot"]
        if share < 1.0:
            flags += ["--budget", str(budget), "--rounds", str(rounds), "--select", strategy]
            flags += ["--select-seed", str(seed), "--explore", str(explore)]
        generate_main(flags)
    finally:
        server.stop()
    return run


def crosscheck(args: argparse.Namespace) -> None:
    """``generate --budget`` (10%) picks exactly what the planner replay picks: the curves are the CLI's."""
    from llmkd.generation.active import read_rounds

    for strategy in ("uncertainty", "mix"):
        run = generate_run(args.setting, strategy, args.seed, 0.10)
        planned: list[list[int]] = []
        curve(args.setting, strategy, args.seed, 0.10, planned)
        ids = [r["id"] for r in load(args.setting, "pool")[0]]
        replay = [[ids[i] for i in round_picks] for round_picks in planned]
        cli = [r["chosen"] for r in read_rounds(run)]
        same = [sorted(a) == sorted(b) for a, b in zip(cli, replay, strict=True)]
        print(f"{args.setting} {strategy}: rounds identical: {same}")
        write_json(run / "crosscheck.json", {"identical_rounds": same})


def pipeline(
    setting: str,
    strategy: str,
    seed: int,
    share: float,
    part: str,
    explore: float = 0.0,
    tune: Sequence[str] = (),
) -> tuple[Path, dict[str, Any]]:
    """``generate_run``, then ``llmkd filter``, ``llmkd finetune`` (defaults plus ``tune``) and ``llmkd evaluate``
    against ``SETTING_PART.jsonl``; returns the run folder and its eval.json."""
    from llmkd.evaluate import main as evaluate_main
    from llmkd.filter import main as filter_main
    from llmkd.finetune import main as finetune_main

    run = generate_run(setting, strategy, seed, share, explore)
    filter_main(["--run", str(run), "--no-progress"])
    finetune_main(["--run", str(run), *tune])
    evaluate_main(["--run", str(run), "--gold", str(DATA / f"{setting}_{part}.jsonl"), "--no-plots"])
    return run, json.loads((run / "eval.json").read_text())


def finetune(args: argparse.Namespace) -> None:
    """The real default student (``llmkd finetune``, MiniLM) at ``--shares`` (10% and 30%) of the calls,
    active (the default ``uncertainty``) and random, and at 100% (selection seed N: finetune's default
    ``--seed`` + N); each scored on the test split by ``llmkd evaluate`` -> results/finetune-*.json."""
    plan = [(strategy, share) for share in args.shares for strategy in ("uncertainty", "random")]
    plan.append(("all", 1.0))  # every teacher label: the selection seed N picks finetune's --seed default + N
    out_path = RESULTS / f"finetune-{args.setting}-s{args.seed}.json"
    done = json.loads(out_path.read_text()) if out_path.is_file() else {"points": []}
    for strategy, share in plan:
        if any(p["strategy"] == strategy and p["share"] == share for p in done["points"]):
            continue
        start = time.perf_counter()
        tune = ["--seed", str(FinetuneConfig.seed + args.seed)] if strategy == "all" else []
        run, result = pipeline(args.setting, strategy, args.seed, share, "test", tune=tune)
        labelled = sum(1 for _ in (run / "labels.jsonl").open())
        done["points"].append(
            {
                "strategy": strategy,
                "share": share,
                "calls": labelled,
                "test_accuracy": result["student"]["accuracy"],
                "test_macro_f1": result["student"]["macro_f1"],
                "probe_curve": result.get("learning_curve"),
                "seconds": round(time.perf_counter() - start, 1),
                "environment": environment(),
            }
        )
        done.update(setting=args.setting, seed=args.seed, student="llmkd finetune defaults (MiniLM)")
        done.setdefault("environment", done["points"][-1]["environment"])
        write_json(out_path, done)
        print(strategy, share, done["points"][-1]["test_accuracy"], flush=True)


def _mean(curves: list[list[dict[str, Any]]], index: int, part: str) -> tuple[float, float]:
    values = [c[index][part] for c in curves]
    return float(np.mean(values)), float(np.std(values))


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Default strategy (best mean dev accuracy over every round of every setting) and the targets (test)."""
    dev_area = {
        strategy: float(
            np.mean(
                [np.mean([p["dev"] for c in results["curves"][s][strategy] for p in c]) for s in SETTINGS]
            )
        )
        for strategy in STRATEGIES
    }
    best = max(dev_area, key=lambda k: dev_area[k])
    targets: dict[str, Any] = {}
    for setting in SETTINGS:
        full = results["full"][setting]["test"]
        curves = results["curves"][setting]
        shares = [p["share"] for p in curves[best][0]]
        means = {st: [_mean(curves[st], i, "test")[0] for i in range(len(shares))] for st in STRATEGIES}
        reach = next((sh for sh, m in zip(shares, means[best], strict=True) if m >= 0.99 * full), None)
        at10 = shares.index(min(shares, key=lambda x: abs(x - 0.10)))
        targets[setting] = {
            "full_label_probe_test": full,
            "share_reaching_99pct_of_full": reach,
            "at_10pct": {st: means[st][at10] for st in STRATEGIES},
            "active_minus_random_at_10pct_points": 100 * (means[best][at10] - means["random"][at10]),
            "at_30pct": {st: means[st][-1] for st in STRATEGIES},
        }
    return {"dev_mean_accuracy_over_rounds": dev_area, "default": best, "targets": targets}


def report(args: argparse.Namespace) -> None:
    """Markdown tables (stdout) and results/curves.png from results/curves.json."""
    from llmkd.reporting.plots import plt

    results = json.loads((RESULTS / "curves.json").read_text())
    results["summary"] = summary(results)
    write_json(RESULTS / "curves.json", results)
    print(json.dumps(results["summary"], indent=1))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, setting in zip(axes, SETTINGS, strict=True):
        full = results["full"][setting]["test"]
        print(
            f"\n**{setting}** (test accuracy, mean ± sd over seeds {SEEDS}; all {results['sizes'][setting]['pool']} teacher labels: {full:.3f})\n"
        )
        curves = results["curves"][setting]
        shares = [p["share"] for p in curves["mix"][0]]
        print("| calls (% of pool) | " + " | ".join(STRATEGIES) + " |")
        print("|---|" + "---|" * len(STRATEGIES))
        for i, share in enumerate(shares):
            if i % 2 == 1 or i == len(shares) - 1:
                cells = [
                    f"{m:.3f} ± {sd:.3f}" for m, sd in (_mean(curves[st], i, "test") for st in STRATEGIES)
                ]
                print(f"| {curves['mix'][0][i]['calls']} ({share:.1%}) | " + " | ".join(cells) + " |")
        for strategy in STRATEGIES:
            means = [_mean(curves[strategy], i, "test")[0] for i in range(len(shares))]
            ax.plot([100 * x for x in shares], means, "o-", markersize=3, label=strategy)
        ax.axhline(full, color="black", lw=1, label="all teacher labels")
        ax.axhline(0.99 * full, color="grey", ls="--", lw=1, label="99% of that")
        ax.set_title(f"{setting} (test)")
        ax.set_xlabel("teacher calls, % of pool")
        ax.set_ylabel("quick-student accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.savefig(RESULTS / "curves.png", dpi=110, bbox_inches="tight")


def finetune_report(args: argparse.Namespace) -> None:
    """Mean ± sd over seeds of the fine-tuned points (results/finetune-*-s*.json) -> Markdown tables (stdout),
    results/finetune-summary.json and results/finetune.png."""
    from llmkd.reporting.plots import plt

    summary_out: dict[str, Any] = {}
    fig, axes = plt.subplots(1, len(FINETUNE_SETTINGS), figsize=(20, 4))
    for ax, setting in zip(axes, FINETUNE_SETTINGS, strict=True):
        runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"finetune-{setting}-s*.json"))]
        points = [p for r in runs for p in r["points"]]
        full = [p["test_accuracy"] for p in points if p["strategy"] == "all"]
        trained = [
            FinetuneConfig.seed + r["seed"] for r in runs if any(p["strategy"] == "all" for p in r["points"])
        ]
        if not full:
            continue
        reference = float(np.mean(full))  # the all-labels student, mean over its training seeds
        cells: dict[str, Any] = {
            "all_labels": full,
            "all_labels_mean": reference,
            "seeds": [r["seed"] for r in runs],
            "points": {},
        }
        spread = (
            f" ± {np.std(full):.3f} (finetune seeds {', '.join(map(str, trained))})" if len(full) > 1 else ""
        )
        print(
            f"\n**{setting}** (fine-tuned student, test accuracy, mean ± sd over seeds {cells['seeds']}; "
            f"all teacher labels: {reference:.3f}{spread})\n"
        )
        print(
            "| teacher calls | `uncertainty` | `random` | `uncertainty` − `random` "
            "| % of all labels: `uncertainty` / `random` |"
        )
        print("|---|---|---|---|---|")
        shares = sorted({p["share"] for p in points if p["strategy"] != "all"})
        for share in shares:
            chosen = {
                st: [p for p in points if p["strategy"] == st and p["share"] == share]
                for st in ("uncertainty", "random")
            }
            acc = {st: np.array([p["test_accuracy"] for p in ps]) for st, ps in chosen.items()}
            f1 = {st: np.array([p["test_macro_f1"] for p in ps]) for st, ps in chosen.items()}
            diff = 100 * (acc["uncertainty"].mean() - acc["random"].mean())
            reached, reached_random = (acc[st].mean() / reference for st in ("uncertainty", "random"))
            cells["points"][str(share)] = {
                st: {"accuracy": acc[st].tolist(), "macro_f1": f1[st].tolist()} for st in acc
            } | {
                "difference_points": diff,
                "share_of_all_labels": reached,
                "random_share_of_all_labels": reached_random,
            }
            print(
                f"| {chosen['uncertainty'][0]['calls']} ({share:.0%}) | "
                + " | ".join(
                    f"{acc[st].mean():.3f}"
                    + (f" ± {acc[st].std():.3f}" if len(acc[st]) > 1 else "")
                    + (f" ({len(acc[st])} of {len(runs)} seeds)" if len(acc[st]) < len(runs) else "")
                    + f" (F1 {f1[st].mean():.3f})"
                    for st in acc
                )
                + f" | {diff:+.1f} | {reached:.1%} / {reached_random:.1%} |"
            )
            for st, marker in (("uncertainty", "o"), ("random", "s")):
                ax.errorbar(
                    [100 * share],
                    [acc[st].mean()],
                    yerr=[acc[st].std()],
                    fmt=marker,
                    color="C0" if st == "uncertainty" else "C3",
                    label=st if share == shares[0] else None,
                )
        ax.axhline(reference, color="black", lw=1, label="all teacher labels")
        ax.axhline(0.99 * reference, color="grey", ls="--", lw=1, label="99% of that")
        ax.set_title(f"{setting} (test)")
        ax.set_xlabel("teacher calls, % of pool")
        ax.set_ylabel("fine-tuned student accuracy")
        ax.grid(alpha=0.3)
        summary_out[setting] = cells
    axes[0].legend(loc="lower right")
    fig.savefig(RESULTS / "finetune.png", dpi=110, bbox_inches="tight")
    write_json(RESULTS / "finetune-summary.json", summary_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "command", choices=["prepare", "curves", "crosscheck", "finetune", "report", "finetune-report"]
    )
    parser.add_argument("--setting", choices=FINETUNE_SETTINGS, default="phrasebank")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shares",
        type=float,
        nargs="*",
        default=[0.10, 0.30],
        help="finetune: budgets as shares of the pool (none: the all-labels point only)",
    )
    args = parser.parse_args()
    if args.command == "prepare":
        prepare()
    elif args.command == "curves":
        curves()
    else:
        globals()[args.command.replace("-", "_")](args)


if __name__ == "__main__":
    main()
