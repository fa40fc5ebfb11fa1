"""The fine-tuned default student on the dev split, for choosing ``generate --budget``'s selection by the
student users get (``run.py curves`` judges by the quick probe).

Each point is ``run.py``'s pipeline (``generate --budget`` against the loopback teacher, ``filter``,
``finetune`` with its defaults) scored by ``evaluate --gold SETTING_dev.jsonl``; one JSON per point in
``results/finetune-dev/``. ``summary`` tabulates them (dev accuracy, macro-F1, predicted labels).

    python bench/active/finetune_dev.py point --setting phrasebank --strategy uncertainty --explore 0.5 \\
        --share 0.3 --seed 0
    python bench/active/finetune_dev.py summary
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from typing import Any

from run import DATA, FINETUNE_SETTINGS, RESULTS, SETTINGS, environment, pipeline

from llmkd.generation.selection import STRATEGIES
from llmkd.run.files import read_jsonl, write_json

OUT = RESULTS / "finetune-dev"


def name(setting: str, strategy: str, explore: float, share: float, seed: int) -> str:
    suffix = f"+explore{explore:g}" if explore else ""
    return f"{setting}-{strategy}{suffix}-{round(share * 100)}pct-s{seed}"


def point(args: argparse.Namespace) -> None:
    """Train one point and score it on dev -> results/finetune-dev/NAME.json (skipped when present)."""
    path = OUT / f"{name(args.setting, args.strategy, args.explore, args.share, args.seed)}.json"
    if path.is_file():
        return
    start = time.perf_counter()
    run, result = pipeline(args.setting, args.strategy, args.seed, args.share, "dev", args.explore)
    predicted = Counter(r.get("student") for r in read_jsonl(run / "predictions.jsonl"))
    taught = Counter(r.get("label") for r in read_jsonl(run / "filtered.jsonl"))
    write_json(
        path,
        {
            "setting": args.setting,
            "strategy": args.strategy,
            "explore": args.explore,
            "share": args.share,
            "seed": args.seed,
            "split": f"dev ({DATA.name}/{args.setting}_dev.jsonl)",
            "calls": sum(1 for _ in (run / "labels.jsonl").open()),
            "dev_accuracy": result["student"]["accuracy"],
            "dev_macro_f1": result["student"]["macro_f1"],
            "dev_predictions": dict(predicted),
            "training_labels": dict(taught),
            "seconds": round(time.perf_counter() - start, 1),
            "environment": environment(),
        },
    )
    print(path.name, result["student"]["accuracy"], flush=True)


def summary(args: argparse.Namespace) -> None:
    """Markdown table of every point (mean over the seeds present) -> stdout."""
    points = [json.loads(p.read_text()) for p in sorted(OUT.glob("*.json"))]
    groups: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    for p in points:
        variant = p["strategy"] + (f" + explore {p['explore']:g}" if p["explore"] else "")
        groups.setdefault((p["setting"], p["share"], variant), []).append(p)
    print("| setting | calls | selection | seeds | dev accuracy | dev macro-F1 |")
    print("|---|---|---|---|---|---|")
    for (setting, share, variant), ps in sorted(groups.items()):
        acc = sum(p["dev_accuracy"] for p in ps) / len(ps)
        f1 = sum(p["dev_macro_f1"] for p in ps) / len(ps)
        seeds = ", ".join(str(p["seed"]) for p in ps)
        print(f"| {setting} | {share:.0%} | {variant} | {seeds} | {acc:.3f} | {f1:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=["point", "summary"])
    parser.add_argument("--setting", choices=FINETUNE_SETTINGS, default=SETTINGS[0])
    parser.add_argument("--strategy", choices=STRATEGIES, default="uncertainty")
    parser.add_argument("--explore", type=float, default=0.0, help="generate --explore")
    parser.add_argument("--share", type=float, default=0.3, help="budget as a share of the pool")
    parser.add_argument("--seed", type=int, default=0, help="generate --select-seed")
    args = parser.parse_args()
    if args.command == "point":
        point(args)
    else:
        summary(args)


if __name__ == "__main__":
    main()
