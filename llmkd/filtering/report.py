"""The filter stage's report: ``filter_report.json``, confidence histograms and the Filter section of report.md."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmkd.run.files import update_report_section, write_json

# Every reason a record can be removed for, in report order.
REASONS = (
    "invalid",
    "leakage_exact",
    "leakage_near",
    "exact_duplicate",
    "near_duplicate",
    "low_confidence",
    "low_margin",
    "low_agreement",
    "low_self_consistency",
    "rationale_inconsistent",
    "too_short",
    "too_long",
    "non_alphabetic",
    "not_english",
    "label_cap",
)

SCORE_KEYS = ("top_prob", "margin", "entropy_norm", "teacher_agreement", "self_consistency")


def _example(record: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "text", "label", "source", "reasons", "duplicate_of")
    out = {k: record[k] for k in keep if k in record}
    top = record["scores"]["top_prob"]
    out["top_prob"] = round(top, 4) if top is not None else None
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    given = [v for v in values if v is not None]
    return round(sum(given) / len(given), 4) if given else None


def _accuracy(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    judged = [r for r in records if r.get("gold") is not None]
    correct = sum(1 for r in judged if r.get("label") == r["gold"])
    return {"n": len(judged), "accuracy": round(correct / len(judged), 4) if judged else None}


def build_report(
    kept: Sequence[dict[str, Any]],
    removed: Sequence[dict[str, Any]],
    policy: dict[str, Any],
    task_labels: Sequence[str],
) -> dict[str, Any]:
    """The content of filter_report.json (see the module docstring)."""
    reason_counts = Counter(x for r in removed for x in r["reasons"])
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in removed:
        for reason in r["reasons"]:
            if len(examples[reason]) < 3:
                examples[reason].append(_example(r))
    labels = list(task_labels)
    by_id = {r.get("id"): r for r in [*kept, *removed]}
    clusters: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in removed:
        if "duplicate_of" in r:
            clusters[r["duplicate_of"]].append(r)
    ranked = sorted(
        clusters.items(),
        key=lambda kv: (any("near_duplicate" in m["reasons"] for m in kv[1]), len(kv[1])),
        reverse=True,
    )
    kept_ids = {r.get("id") for r in kept}
    cluster_examples = [
        {
            "size": len(members) + 1,
            "representative": _example(by_id[rep]) if rep in by_id else {"id": rep},
            "representative_kept": rep in kept_ids,  # it may be removed itself (leakage, low confidence)
            "duplicates": [_example(m) for m in members[:5]],
        }
        for rep, members in ranked[:10]
    ]
    return {
        "n_in": len(kept) + len(removed),
        "n_kept": len(kept),
        "n_removed": len(removed),
        "removed": {k: reason_counts[k] for k in REASONS if reason_counts[k]},
        "kept_per_label": dict(Counter(r["label"] for r in kept).most_common()),
        "removed_per_label": dict(Counter(str(r.get("label")) for r in removed).most_common()),
        "labels": labels,
        "examples": {k: examples[k] for k in REASONS if k in examples},
        "near_duplicate_clusters": cluster_examples,
        "mean_scores": {
            name: {key: _mean([r["scores"].get(key) for r in group]) for key in SCORE_KEYS}
            for name, group in (("kept", kept), ("removed", removed))
        },
        "gold_accuracy": {
            "all": _accuracy([*kept, *removed]),
            "kept": _accuracy(kept),
            "removed": _accuracy(removed),
        },
        "policy": policy,
    }


def confidence_histograms(
    kept: Sequence[dict[str, Any]], removed: Sequence[dict[str, Any]], labels: Sequence[str], path: Path
) -> Path | None:
    """PNG of top-label probability per label, kept vs removed; None when no record has probabilities."""
    if not any(r["scores"]["top_prob"] is not None for r in [*kept, *removed]) or not labels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    bins = np.linspace(0.0, 1.0, 21)
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.2), squeeze=False, sharey=True)
    for ax, label in zip(axes[0], labels, strict=True):
        for group, name, color in ((kept, "kept", "tab:green"), (removed, "removed", "tab:red")):
            values = [
                r["scores"]["top_prob"]
                for r in group
                if r.get("label") == label and r["scores"]["top_prob"] is not None
            ]
            ax.hist(values, bins=bins, alpha=0.6, color=color, label=f"{name} ({len(values)})")
        ax.set_title(label)
        ax.set_xlabel("top label probability")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("records")
    fig.suptitle("Teacher confidence per label: kept vs removed")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def _short(text: str, n: int = 110) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


def _na(value: Any) -> str:
    return "n/a" if value is None else str(value)


def render_markdown(report: dict[str, Any], png: Path | None) -> str:
    """The ``## Filter`` section of report.md."""
    n_in, n_kept = report["n_in"], report["n_kept"]
    lines = [
        "## Filter",
        "",
        f"Kept **{n_kept}** of {n_in} records ({n_kept / n_in:.1%}). A record removed for several reasons "
        "counts under each.",
        "",
        "| reason | removed | share of input |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {v} | {v / n_in:.1%} |" for k, v in report["removed"].items()] or [
        "| (none) | 0 | 0% |"
    ]
    lines += ["", "| label | kept | removed |", "|---|---:|---:|"]
    for label in dict.fromkeys([*report["labels"], *report["kept_per_label"], *report["removed_per_label"]]):
        # removed records without a label are counted under "None"
        lines.append(
            f"| {label} | {report['kept_per_label'].get(label, 0)} | "
            f"{report['removed_per_label'].get(label, 0)} |"
        )
    gold = report["gold_accuracy"]
    if gold["all"]["n"]:
        parts = [f"{name} {g['accuracy']} (n={g['n']})" for name, g in gold.items() if g["n"]]
        lines += ["", f"Teacher accuracy against gold: {', '.join(parts)}."]
    means = report["mean_scores"]
    lines += ["", "| mean score | kept | removed |", "|---|---:|---:|"]
    lines += [f"| {k} | {_na(means['kept'][k])} | {_na(means['removed'][k])} |" for k in SCORE_KEYS]
    if png is not None:
        lines += ["", f"![confidence per label, kept vs removed]({png.name})"]
    if report["examples"]:
        lines += ["", "### Examples of removed records", ""]
        for reason, examples in report["examples"].items():
            lines.append(f"- **{reason}**")
            lines += [
                f"  - `{e.get('label')}` p={_na(e.get('top_prob'))}: {_short(e.get('text', ''))}"
                for e in examples
            ]
    if report["near_duplicate_clusters"]:
        lines += ["", "### Duplicate clusters (largest, near duplicates first)", ""]
        for c in report["near_duplicate_clusters"][:3]:
            rep = c["representative"]
            fate = (
                "kept" if c.get("representative_kept") else f"removed ({', '.join(rep.get('reasons', []))})"
            )
            lines.append(f"- size {c['size']}, {fate}: {_short(rep.get('text', ''))}")
            lines += [
                f"  - {d['reasons'][0] if 'reasons' in d else ''}: {_short(d.get('text', ''))}"
                for d in c["duplicates"][:3]
            ]
    policy = ", ".join(f"{k}={v}" for k, v in report["policy"].items())
    lines += ["", f"Policy: `{policy}`", ""]
    return "\n".join(lines)


def write_filter_report(
    run: Path,
    kept: Sequence[dict[str, Any]],
    removed: Sequence[dict[str, Any]],
    policy: dict[str, Any],
    task_labels: Sequence[str],
) -> dict[str, Any]:
    """Write filter_report.json, filter_confidence.png and the Filter section of report.md."""
    report = build_report(kept, removed, policy, task_labels)
    write_json(run / "filter_report.json", report)
    png = confidence_histograms(kept, removed, task_labels, run / "filter_confidence.png")
    update_report_section(run, "filter", render_markdown(report, png))
    return report
