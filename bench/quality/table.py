"""The README table of bench/quality from results/*.json (rows without a result say "not run")."""

from __future__ import annotations

import json
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
    ("a_gold_minilm_cls", "(a) … `[CLS]` head, no warm-up or decay (session 2)"),
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
        "(c) … LoRA r=8 at lr 5e-4 on attention query/value (llmkd's default before session 6) instead of full, "
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
        "(c) … the same LoRA on every linear layer (llmkd's default since session 6), no tweets",
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
        "labels, a new q/v LoRA student trains on all (session 5)",
    ),
    (
        "c_qwenlex_soft-teachers-agree-lora",
        "(c) … the same LoRA with the BERT pooler frozen (before session 4's fix)",
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
    ("c_qwen_hard", "(c) … hard, `[CLS]` head, no warm-up or decay (session 2)"),
    ("c_qwen_soft", "(c) … soft, session 2"),
    ("c_qwen_hard-filtered", "(c) … hard, filtered, session 2"),
    ("c_qwen_soft-filtered", "(c) … soft, filtered, session 2"),
    ("c_qwen_crossfit-agree", "(c) … hard, only where cross-fitted student and teacher agree, session 2"),
    (
        "c_qwen_crossfit-cleanlab",
        "(c) … hard, label issues pruned by cleanlab on cross-fitted probabilities, session 2",
    ),
    ("c_qwen_hard-lora", "(c) … hard, LoRA r=8 instead of a full fine-tune (pooler frozen), session 2"),
    ("d_sim_soft_mean", "(d) MiniLM from the SIMULATED teacher, soft, mean-pooled head"),
    ("d_sim_soft-filtered_mean", "(d) … soft, filtered, mean-pooled head"),
    ("d_sim_soft-filtered_mean_s7", "(d) … soft, filtered, mean-pooled head, seed 7"),
    ("d_sim_soft-filtered_head_warm", "(d) … soft, filtered, llmkd's defaults (`[CLS]` head)"),
    (
        "d_sim_soft-filtered-lora_pooler",
        "(d) … soft, filtered, LoRA r=8 at lr 5e-4 on query/value (the default before session 6) instead of full",
    ),
    (
        "d_sim_soft-filtered-lora_alllinear",
        "(d) … soft, filtered, LoRA r=8 at lr 5e-4 on every linear layer (the default since session 6)",
    ),
    ("d_sim_soft-filtered_v2", "(d) … soft, filtered, `[CLS]` head, no warm-up or decay (session 2)"),
    (
        "e_causal_alllinear",
        "(e) SmolLM2-135M LoRA causal student from the SIMULATED teacher, llmkd's causal defaults "
        "(LoRA on every linear layer, lr 1e-3)",
    ),
    ("e_causal_alllinear_e2", "(e) … the same, 2 epochs"),
    (
        "e_causal",
        "(e) … the same with LoRA on attention q/v at lr 2e-4, 1 epoch (the defaults before session 6)",
    ),
]


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def f3(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("—" if value is None else str(value))


def best_local_accuracy() -> float | None:
    scores = [r["test"]["accuracy"] for r in map(load, (n for n, _ in TEACHERS)) if r]
    return max(scores, default=None)


def table_markdown() -> str:
    best = best_local_accuracy()
    lines = [
        "| model | train items | test accuracy | weighted F1 | macro F1 | vs best local teacher | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    sim = load("d_simulated_teacher")
    if sim:
        t = sim["test"]
        lines.append(
            f"| SIMULATED teacher (gold through a fixed confusion matrix) | — | {f3(t['accuracy'])} | "
            f"{f3(t['weighted_f1'])} | — | — | — |"
        )
    for name, title in TEACHERS:
        r = load(name)
        if r is None:
            lines.append(f"| {title} | not run | | | | | |")
            continue
        t = r["test"]
        lines.append(f"| {title} | — | {f3(t['accuracy'])} | {f3(t['weighted_f1'])} | — | — | — |")
    for name, title in STUDENTS:
        r = load(name)
        if r is None:
            lines.append(f"| {title} | not run | | | | | |")
            continue
        held = f" (+{r['n_val']} held out)" if r.get("n_val") else ""
        ratio = f"{100 * r['accuracy'] / best:.1f}%" if best and name.startswith("c_") else "—"
        lines.append(
            f"| {title} | {r.get('n_train')}{held} | **{f3(r.get('accuracy'))}** | "
            f"{f3(r.get('weighted_f1'))} | {f3(r.get('macro_f1'))} | {ratio} | {r.get('train_wall_s', 0):.0f} |"
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
