"""The README table of bench/quality from results/*.json: figures, torch threads and the commit that last
wrote each result (rows without a result say "not run")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

TEACHERS = [
    ("t_qwen_raw", "(b) Qwen2.5-Coder-0.5B, 6 shots, leading-space labels (`local:qwen`, its defaults)"),
    ("t_qwen_batchcal", "(b) … the same labels batch-calibrated"),
    ("t_smollm2_raw", "(b) SmolLM2-135M, zero-shot + contextual calibration (`local`, the embedded default)"),
    ("t_smollm2_batchcal", "(b) … the same labels batch-calibrated"),
    (
        "t_lexicon_raw",
        "(b) finance polarity lexicon (`lexicon`; no model), also the Qwen + lexicon ensemble's label",
    ),
]
STUDENTS = [
    ("a_gold_minilm_head_warm", "(a) MiniLM on gold labels (upper bound), llmkd's defaults (`[CLS]` head)"),
    ("a_gold_minilm", "(a) … mean-pooled head (`--pooling mean`)"),
    ("a_gold_minilm_s7", "(a) … mean-pooled head, seed 7 (other held-out split and order)"),
    ("a_gold_minilm_cls", "(a) … `[CLS]` head, no warm-up or decay"),
    (
        "c_qwenlex_soft-teachers-agree",
        "(c) MiniLM from Qwen + lexicon, soft, only where both agree (`filter --min-agreement 1`), defaults",
    ),
    ("c_qwenlex_soft-teachers-agree_s7", "(c) … seed 7 (other held-out split and order)"),
    ("c_qwenlex_soft-teachers-agree_mean", "(c) … mean-pooled head"),
    ("c_qwenlex_soft-teachers-agree_bal", "(c) … `--class-weights balanced`"),
    ("c_qwenlex_hard-teachers-agree", "(c) … hard labels"),
    (
        "c_qwenlex_soft-teachers-agree-lora_pooler",
        "(c) … LoRA r=8 at lr 5e-4 on attention query/value (llmkd's default before e6d2db6) instead of full, "
        "pooler trained with the head",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_pooler_s7", "(c) … the same, seed 7"),
    (
        "c_qwenlex_soft-teachers-agree-lora_pooler_e6",
        "(c) … the same LoRA, 6 epochs (best epoch by held-out agreement with the teachers)",
    ),
    (
        "c_qwenlex_soft-teachers-agree-lora_pooler_prior",
        "(c) … the same LoRA, `--class-weights prior` (labels weighted back to the teachers' overall mix; "
        "commit 6eab68c, dropped)",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_pooler_prior_s7", "(c) … the same, seed 7"),
    (
        "c_qwenlex_soft-teachers-agree-lora_pooler_tweets",
        "(c) … the same LoRA, plus 3,000 TFNS tweets (text only) labelled by the same two teachers "
        "(1,616 of them kept by the agreement filter)",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_pooler_tweets_s7", "(c) … the same, seed 7"),
    (
        "c_qwenlex_soft-teachers-agree-lora_pooler_tweetsall",
        "(c) … the same LoRA, plus all 9,543 TFNS tweets (text only) labelled by the same two teachers (5,534 kept)",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_pooler_tweetsall_s7", "(c) … the same, seed 7"),
    (
        "c_qwenlex_soft-teachers-agree-lora_alllinear",
        "(c) … the same LoRA on every linear layer (llmkd's default since e6d2db6), no tweets",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_s7", "(c) … the same, seed 7"),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_s1", "(c) … the same, seed 1 (llmkd's defaults)"),
    (
        "c_qwenlex_soft-teachers-agree-lora_alllinear_mean",
        "(c) … the same LoRA (every linear layer), mean-pooled head",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_mean_s7", "(c) … the same, seed 7"),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_mean_s1", "(c) … the same, seed 1"),
    (
        "c_qwenlex_soft-teachers-agree-lora_alllinear_tweets",
        "(c) … the same LoRA (every linear layer, `[CLS]` head), plus the 3,000 TFNS tweets labelled by the "
        "same two teachers",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_tweets_s7", "(c) … the same, seed 7"),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_tweets_s1", "(c) … the same, seed 1"),
    (
        "c_qwenlex_soft-teachers-agree-lora_alllinear_aug",
        "(c) … the same LoRA (every linear layer, `[CLS]` head), plus 600 sentences Qwen wrote (`generate "
        "--augment 200`) labelled by the same two teachers",
    ),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_aug_s7", "(c) … the same, seed 7"),
    ("c_qwenlex_soft-teachers-agree-lora_alllinear_aug_s1", "(c) … the same, seed 1"),
    (
        "c_qwenlex_selftrain_ens3",
        "(c) … one self-training round from the three seeds of the every-linear-layer LoRA student: the "
        "records the filter dropped take their mean soft labels, a new student (llmkd's defaults) trains on all",
    ),
    (
        "c_qwenlex_selftrain",
        "(c) … one self-training round: the records the filter dropped take the q/v LoRA student's soft "
        "labels, a new q/v LoRA student trains on all",
    ),
    (
        "c_qwenlex_soft-teachers-agree-lora",
        "(c) … the same LoRA with the BERT pooler frozen (before 76d1856)",
    ),
    ("c_qwenlex_soft", "(c) MiniLM from Qwen + lexicon, all records (the label is the lexicon's), soft"),
    ("c_qwenlex_soft-filtered", "(c) … soft, confidence-filtered"),
    (
        "c_qwen_soft-filtered_head_warm",
        "(c) MiniLM from Qwen's labels alone, soft, filtered, llmkd's defaults",
    ),
    ("c_qwen_soft-filtered_sc0.2", "(c) … + weak-to-strong confidence loss 0.2 (commit 0d19aee, dropped)"),
    ("c_qwen_soft-filtered_sc0.5", "(c) … the same at 0.5"),
    ("c_qwen_hard_mean", "(c) MiniLM from Qwen's labels, hard, mean-pooled head"),
    ("c_qwen_soft_mean", "(c) … soft (KD, T=2, alpha=0.5), mean-pooled head"),
    ("c_qwen_soft-filtered_mean", "(c) … soft, filtered, mean-pooled head"),
    ("c_qwen_hard", "(c) … hard, `[CLS]` head, no warm-up or decay"),
    ("c_qwen_soft", "(c) … soft, the same settings"),
    ("c_qwen_hard-filtered", "(c) … hard, filtered, the same settings"),
    ("c_qwen_soft-filtered", "(c) … soft, filtered, the same settings"),
    (
        "c_qwen_crossfit-agree",
        "(c) … hard, only where cross-fitted student and teacher agree, the same settings",
    ),
    (
        "c_qwen_crossfit-cleanlab",
        "(c) … hard, label issues pruned by cleanlab on cross-fitted probabilities, the same settings",
    ),
    (
        "c_qwen_hard-lora",
        "(c) … hard, LoRA r=8 instead of a full fine-tune (pooler frozen), the same settings",
    ),
    ("d_sim_soft_mean", "(d) MiniLM from the SIMULATED teacher, soft, mean-pooled head"),
    ("d_sim_soft-filtered_mean", "(d) … soft, filtered, mean-pooled head"),
    ("d_sim_soft-filtered_mean_s7", "(d) … soft, filtered, mean-pooled head, seed 7"),
    ("d_sim_soft-filtered_head_warm", "(d) … soft, filtered, llmkd's defaults (`[CLS]` head)"),
    (
        "d_sim_soft-filtered-lora_pooler",
        "(d) … soft, filtered, LoRA r=8 at lr 5e-4 on query/value (the default before e6d2db6) instead of full",
    ),
    (
        "d_sim_soft-filtered-lora_alllinear",
        "(d) … soft, filtered, LoRA r=8 at lr 5e-4 on every linear layer (the default since e6d2db6)",
    ),
    ("d_sim_soft-filtered_v2", "(d) … soft, filtered, `[CLS]` head, no warm-up or decay"),
    ("d_sim_soft_full", "(d) … soft, unfiltered, `[CLS]` head, no warm-up or decay, 2 epochs at lr 2e-4"),
    (
        "e_causal_alllinear",
        "(e) SmolLM2-135M LoRA causal student from the SIMULATED teacher, llmkd's causal defaults "
        "(LoRA on every linear layer, lr 1e-3)",
    ),
    ("e_causal_alllinear_e2", "(e) … the same, 2 epochs"),
    (
        "e_causal",
        "(e) … the same with LoRA on attention q/v at lr 2e-4, 1 epoch (the defaults before 5288831)",
    ),
]


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def f3(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("—" if value is None else str(value))


def committed(name: str) -> str:
    """Short hash and date of the commit that last wrote ``results/<name>.json`` ("—" outside git)."""
    try:
        done = subprocess.run(
            ["git", "log", "-1", "--format=%h %cs", "--", f"{name}.json"],
            cwd=RESULTS,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "—"
    return done.stdout.strip() or ("uncommitted" if done.returncode == 0 else "—")


def threads(result: dict[str, Any]) -> str:
    return str(result.get("machine", {}).get("torch_threads", "—"))


def best_local_accuracy() -> float | None:
    scores = [r["test"]["accuracy"] for r in map(load, (n for n, _ in TEACHERS)) if r]
    return max(scores, default=None)


def teacher_row(title: str, name: str, scores: dict[str, Any]) -> str:
    accuracy, weighted = f3(scores["accuracy"]), f3(scores["weighted_f1"])
    return f"| {title} | — | {accuracy} | {weighted} | — | — | — | — | {committed(name)} |"


def table_markdown() -> str:
    best = best_local_accuracy()
    lines = [
        "| model | train items | test accuracy | weighted F1 | macro F1 | vs best local teacher | train s "
        "| torch threads | commit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sim = load("d_simulated_teacher")
    if sim:
        title = "SIMULATED teacher (gold through a fixed confusion matrix)"
        lines.append(teacher_row(title, "d_simulated_teacher", sim["test"]))
    for name, title in TEACHERS:
        r = load(name)
        lines.append(
            f"| {title} | not run | | | | | | | |" if r is None else teacher_row(title, name, r["test"])
        )
    for name, title in STUDENTS:
        r = load(name)
        if r is None:
            lines.append(f"| {title} | not run | | | | | | | |")
            continue
        held = f" (+{r['n_val']} held out)" if r.get("n_val") else ""
        ratio = f"{100 * r['accuracy'] / best:.1f}%" if best and name.startswith("c_") else "—"
        lines.append(
            f"| {title} | {r.get('n_train')}{held} | **{f3(r.get('accuracy'))}** | "
            f"{f3(r.get('weighted_f1'))} | {f3(r.get('macro_f1'))} | {ratio} | {r.get('train_wall_s', 0):.0f} | "
            f"{threads(r)} | {committed(name)} |"
        )
    return "\n".join(lines)


def write_table() -> None:
    """Replace the block between the table markers in README.md."""
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, _, rest = text.partition("<!-- table -->")
    _, _, tail = rest.partition("<!-- /table -->")
    readme.write_text(f"{head}<!-- table -->\n{table_markdown()}\n<!-- /table -->{tail}", encoding="utf-8")
    print(table_markdown())


if __name__ == "__main__":
    write_table()
