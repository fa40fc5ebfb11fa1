"""The fine-tuning config shared by both student kinds (the flags of ``python -m llmkd.finetune``)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal

from llmkd.errors import ConfigError
from llmkd.students.lora import AUTO as LORA_AUTO

DEFAULT_LR_LORA = 5e-4
DEFAULT_LR_FULL = 5e-5
DEFAULT_LR_CAUSAL = 1e-3
DEFAULT_MAX_LENGTH = 64
DEFAULT_MAX_LENGTH_CAUSAL = 160
DEFAULT_EPOCHS = 3
MIN_STEPS = 150  # small data gets more epochs; selection on the held-out split keeps the best one
MAX_AUTO_EPOCHS = 30


# The packages transformers can report to each tracker through (any one of them will do).
TRACKER_PACKAGES = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "mlflow": ("mlflow",),
    "wandb": ("wandb",),
}


def check_tracker(report_to: str) -> None:
    """Fail on an unknown ``--report-to`` or one whose package is not installed, before any work."""
    if report_to == "none":
        return
    packages = TRACKER_PACKAGES.get(report_to)
    if packages is None:
        known = ", ".join(["none", *TRACKER_PACKAGES])
        raise ConfigError(f"--report-to must be one of {known}, got {report_to!r}")
    if all(importlib.util.find_spec(package) is None for package in packages):
        raise ConfigError(
            f"--report-to {report_to}: the {packages[0]} package is not installed "
            f"(pip install {packages[0]}, or --report-to none)"
        )


@dataclass
class FinetuneConfig:
    """Flags of ``python -m llmkd.finetune``, shared by the encoder and causal trainers."""

    run: str | None = field(
        default=None,
        metadata={"help": "run directory (holds labels.jsonl)", "metavar": "DIR", "required": True},
    )
    student: str = field(
        default="minilm",
        metadata={
            "help": "student model: 'minilm' (embedded MiniLM-L6) or any HF encoder path / id; with "
            "--student-kind causal: 'local' (embedded SmolLM2-135M) or any Llama/Mistral-style path / id"
        },
    )
    student_kind: Literal["encoder", "causal"] = field(
        default="encoder",
        metadata={
            "help": "encoder: sequence classifier with the KD loss (RUN/student); causal: LoRA SFT of a "
            "causal LM on label + rationale targets, predicting by label scoring (RUN/student-causal)"
        },
    )
    task: str | None = field(
        default=None, metadata={"help": "task name or YAML path (default: the task in generate_config.json)"}
    )
    temperature: float = field(default=2.0, metadata={"help": "KD temperature T"})
    alpha: float = field(
        default=0.5,
        metadata={"help": "weight of the soft (KL) term; 1 - alpha for hard CE (0 = hard labels only)"},
    )
    class_weights: Literal["none", "balanced"] = field(
        default="none",
        metadata={
            "help": "balanced: weight each example by n / (C * n_label) of its teacher label, so rare "
            "labels count as much as common ones"
        },
    )
    epochs: int | None = field(
        default=None,
        metadata={
            "help": f"training epochs (default: {DEFAULT_EPOCHS}, more on small data so that training "
            f"takes at least {MIN_STEPS} optimizer steps, at most {MAX_AUTO_EPOCHS} epochs; the best "
            "epoch on the held-out split is kept)"
        },
    )
    patience: int = field(
        default=5,
        metadata={
            "help": "stop after this many epochs without a better held-out score (0: never stop early)"
        },
    )
    gold_seed: bool = field(
        default=True,
        metadata={
            "help": "train with the run's gold seed (RUN/gold_seed.jsonl, from generate --gold-seed) when it "
            "has one: part of it joins the training data as gold labels, the rest replaces the teacher-"
            "labelled held-out split for model selection and early stopping"
        },
    )
    seed_only: bool = field(
        default=False,
        metadata={
            "help": "train on the gold seed alone, no teacher label (the baseline every teacher must beat; "
            "saved to DIR/student-seed-only unless --output)"
        },
    )
    gold_weight: float = field(
        default=2.0,
        metadata={
            "help": "how many times each gold seed example counts against one teacher-labelled example"
        },
    )
    seed_dev_fraction: float = field(
        default=0.5,
        metadata={"help": "share of the gold seed held out for model selection (the rest is trained on)"},
    )
    lr: float | None = field(
        default=None,
        metadata={
            "help": f"learning rate (default {DEFAULT_LR_LORA} LoRA, {DEFAULT_LR_FULL} --full, "
            f"{DEFAULT_LR_CAUSAL} causal LoRA)"
        },
    )
    batch_size: int = field(
        default=32,
        metadata={
            "help": "items per optimizer step; a multi-process run (accelerate launch) splits it evenly over "
            "the processes, so it trains as one process would"
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "max tokens per example (default 64 encoder, 160 causal): a longer text keeps its first "
            "tokens (head-only truncation) and finetune warns with a count; the length is saved with the "
            "student, and evaluate reads texts at the same length"
        },
    )
    pooling: Literal["head", "mean", "auto"] = field(
        default="head",
        metadata={
            "help": "encoder student: head = the architecture's own classifier ([CLS]/pooler), saved as a "
            "plain transformers model; mean = a linear head on the masked mean of the token states, the "
            "way sentence-transformers checkpoints are trained (saved with its pooled.py: load it with "
            "trust_remote_code=True or after importing llmkd.students.pooled); auto = mean when the checkpoint's "
            "1_Pooling config says mean, else head"
        },
    )
    warmup_ratio: float = field(
        default=0.1, metadata={"help": "share of the training steps with a linear learning-rate warm-up"}
    )
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW weight decay (not applied to biases and LayerNorm)"}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout"})
    lora_targets: str = field(
        default="auto",
        metadata={
            "help": "layers that get LoRA adapters: auto = all-linear = every linear layer outside the "
            "classifier head / LM head, or comma-separated layer names such as query,value or q_proj,v_proj"
        },
    )
    full: bool = field(default=False, metadata={"help": "full fine-tune instead of LoRA"})
    seed: int = field(default=42, metadata={"help": "random seed (split, init, order)"})
    val_fraction: float = field(
        default=0.1, metadata={"help": "share of teacher-labelled records held out for model selection"}
    )
    output: str | None = field(
        default=None,
        metadata={
            "help": "where to save the student (default DIR/student, DIR/student-causal for causal); a student "
            "saved elsewhere gets its finetune_metrics.json, finetune_config.json and training curves in "
            "that folder, leaving the run's own"
        },
    )
    onnx: bool = field(
        default=True,
        metadata={
            "help": "encoder student: also write it as ONNX for onnxruntime (DIR/student/onnx/: fp32, and "
            "int8 when its label agreement with the torch student on up to 2,000 training texts is at "
            "least 99% at 95% confidence, see export --min-int8-agreement); 1 to 3 minutes for MiniLM on 2 CPU cores"
        },
    )
    resume: bool = field(
        default=True,
        metadata={
            "help": "resume from the last checkpoint in DIR/.checkpoints when it was made by the same "
            "config and data (a killed run continues where it stopped)"
        },
    )
    causal_system_prompt: bool = field(
        default=False,
        metadata={
            "help": "causal student: keep the task's system prompt in its chat (about 200 more tokens per "
            "example; off by default since the student learns the task from the targets)"
        },
    )
    rationale_weight: float = field(
        default=1.0,
        metadata={"help": "causal student: share of rationale examples kept (0 = label task only)"},
    )
    report_to: Literal["none", "tensorboard", "mlflow", "wandb"] = field(
        default="none",
        metadata={
            "help": "experiment tracker that gets the training logs (transformers' report_to; its "
            "package must be installed: tensorboard, mlflow or wandb); tensorboard logs go to "
            "DIR/tensorboard unless TENSORBOARD_LOGGING_DIR is set; none: no tracking"
        },
    )

    def __post_init__(self) -> None:
        if self.student_kind not in ("encoder", "causal"):
            raise ConfigError(f"--student-kind must be encoder or causal, got {self.student_kind!r}")
        if self.temperature <= 0:
            raise ConfigError(f"--temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"--alpha must be in [0, 1], got {self.alpha}")
        if not 0.0 <= self.rationale_weight <= 1.0:
            raise ConfigError(f"--rationale-weight must be in [0, 1], got {self.rationale_weight}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.full and self.lora_targets.strip() != LORA_AUTO:
            raise ConfigError("--lora-targets applies to LoRA students, not --full")
        if self.gold_weight <= 0:
            raise ConfigError(f"--gold-weight must be > 0, got {self.gold_weight}")
        if not 0.0 < self.seed_dev_fraction < 1.0:
            raise ConfigError(f"--seed-dev-fraction must be in (0, 1), got {self.seed_dev_fraction}")
        if self.patience < 0:
            raise ConfigError(f"--patience must be >= 0, got {self.patience}")
        if self.weight_decay < 0:
            raise ConfigError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        check_tracker(self.report_to)
        for name in ("epochs", "batch_size", "max_length", "lora_r"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")

    def epochs_for(self, n_train: int) -> int:
        """``--epochs``, else enough epochs for ``MIN_STEPS`` optimizer steps on ``n_train`` examples
        (at least ``DEFAULT_EPOCHS``, at most ``MAX_AUTO_EPOCHS``)."""
        if self.epochs is not None:
            return self.epochs
        steps_per_epoch = max(1, -(-n_train // self.batch_size))
        return min(MAX_AUTO_EPOCHS, max(DEFAULT_EPOCHS, -(-MIN_STEPS // steps_per_epoch)))

    def learning_rate(self) -> float:
        """``--lr``, else the default of the student kind and method."""
        if self.lr is not None:
            return self.lr
        if self.student_kind == "causal":
            return DEFAULT_LR_CAUSAL
        return DEFAULT_LR_FULL if self.full else DEFAULT_LR_LORA
