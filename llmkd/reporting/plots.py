"""PNG figures for the run directory: training curves, confusion matrices, reliability diagrams."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from llmkd.run.files import atomic_file


def _save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG atomically (temp file + rename) and close it."""
    path = Path(path)
    try:
        with atomic_file(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def training_curves(log_history: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Training loss, held-out loss and accuracy against epoch (from ``Trainer.state.log_history``)."""
    train = [(h["epoch"], h["loss"]) for h in log_history if "loss" in h and "epoch" in h]
    evals = [h for h in log_history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="tab:blue")
    if evals:
        ax.plot(
            [h["epoch"] for h in evals],
            [h["eval_loss"] for h in evals],
            "o-",
            label="held-out loss",
            color="tab:orange",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("KD loss")
    handles, names = ax.get_legend_handles_labels()
    accs = [(h["epoch"], h["eval_accuracy"]) for h in evals if "eval_accuracy" in h]
    if accs:
        ax2 = ax.twinx()
        ax2.plot(*zip(*accs, strict=True), "s--", label="held-out accuracy", color="tab:green")
        ax2.set_ylabel("accuracy vs teacher")
        ax2.set_ylim(0, 1.02)
        more_handles, more_names = ax2.get_legend_handles_labels()
        handles, names = handles + more_handles, names + more_names
    if handles:
        ax.legend(handles, names, loc="best")
    ax.set_title("Student training")
    return _save(fig, path)


def confusion_matrix_plot(matrix: np.ndarray, labels: Sequence[str], path: str | Path, title: str) -> Path:
    """Heat map of a ``(C, C)`` confusion matrix (rows gold, columns predicted) with counts in the cells."""
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.5, 1.2 * len(labels) + 2))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    threshold = matrix.max() / 2 if matrix.size and matrix.max() > 0 else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > threshold else "black",
            )
    ax.set_title(title)
    return _save(fig, path)


def reliability_figure(curves: dict[str, list[dict[str, float]]]) -> Figure:
    """Accuracy against confidence per bin for each model, each point marked with its item count, over a
    bar chart of the items per confidence bin (``name -> metrics.reliability_bins`` rows)."""
    fig, (ax, counts) = plt.subplots(
        2, 1, figsize=(5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    width = 1.0 / max(len(curves), 1)
    for k, (name, rows) in enumerate(curves.items()):
        used = [r for r in rows if r["count"] > 0]
        if not used:
            continue
        line = ax.plot([r["confidence"] for r in used], [r["accuracy"] for r in used], "o-", label=name)[0]
        for r in used:
            ax.annotate(
                f"n={r['count']}",
                (r["confidence"], r["accuracy"]),
                textcoords="offset points",
                xytext=(-8, 6),
                fontsize=8,
                color=line.get_color(),
                annotation_clip=False,
            )
        bin_width = rows[0]["upper"] - rows[0]["lower"]
        counts.bar(
            [r["lower"] + bin_width * width * (k + 0.5) for r in rows],
            [r["count"] for r in rows],
            width=bin_width * width,
            color=line.get_color(),
            label=name,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram (numbers: items per bin)")
    ax.legend(loc="upper left")
    counts.set_xlabel("confidence")
    counts.set_ylabel("items")
    fig.tight_layout()
    return fig


def reliability_diagram(curves: dict[str, list[dict[str, float]]], path: str | Path) -> Path:
    """Write :func:`reliability_figure` as a PNG."""
    return _save(reliability_figure(curves), path)


def coverage_accuracy_plot(rows: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Accuracy of the student's most confident x% of items against x (``selective.coverage_accuracy`` rows)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([100 * r["coverage"] for r in rows], [r["accuracy"] for r in rows], "o-")
    ax.set_xlabel("coverage: the student's most confident x% of items")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 100)
    ax.set_title("Coverage-accuracy (selective prediction)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def learning_curve_plot(
    curves: dict[str, Sequence[tuple[float, float]]], path: str | Path, title: str
) -> Path:
    """Accuracy against teacher calls, one line per named curve of ``(calls, accuracy)`` points."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        ax.plot(*zip(*points, strict=True), "o-", label=name, markersize=3)
    ax.set_xlabel("teacher calls")
    ax.set_ylabel("student accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return _save(fig, path)
