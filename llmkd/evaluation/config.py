"""The flags of ``python -m llmkd.evaluate``, with their help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from llmkd.errors import ConfigError
from llmkd.io.readers import InputColumns


@dataclass
class EvaluateConfig(InputColumns):
    """Flags of ``python -m llmkd.evaluate``."""

    run: str | None = field(
        default=None,
        metadata={
            "help": "run directory (holds student/ and labels.jsonl)",
            "metavar": "DIR",
            "required": True,
        },
    )
    gold: str | None = field(
        default=None,
        metadata={
            "help": "gold-labelled file (.csv, .jsonl, .parquet, .txt, hf:)",
            "metavar": "FILE",
            "required": True,
        },
    )
    task: str | None = field(
        default=None, metadata={"help": "task name or YAML path (default: the task the run was made with)"}
    )
    teacher_labels: list[str] = field(
        default_factory=list,
        metadata={
            "help": "labels.jsonl files holding the teacher's labels of the gold texts "
            "(default: RUN/labels.jsonl); e.g. a generate run over the gold file",
            "metavar": "FILE",
        },
    )
    batch_size: int = field(default=64, metadata={"help": "student inference batch size"})
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "max tokens per text for the student (default: the length it was trained with, "
            "saved in its folder; 128 for a student saved without one)"
        },
    )
    device: str = field(
        default="auto", metadata={"help": "torch device for the student ('auto': cuda if present)"}
    )
    backend: Literal["torch", "onnx"] = field(
        default="torch",
        metadata={
            "help": "run the student on torch, or on onnxruntime from its ONNX export (STUDENT/onnx/, "
            "written by finetune or `llmkd export --format onnx`; CPU, encoder student only)"
        },
    )
    n_bins: int = field(default=10, metadata={"help": "confidence bins for ECE and the reliability diagram"})
    time_teacher: bool = field(
        default=True,
        metadata={"help": "time a local teacher on up to --teacher-timing-items gold texts for throughput"},
    )
    plots: bool = field(default=True, metadata={"help": "write the PNG figures and report.html"})
    teacher_timing_items: int = field(
        default=64, metadata={"help": "gold texts a local teacher is timed on (--time-teacher)"}
    )
    cpu_usd_per_hour: float = field(
        default=0.10,
        metadata={
            "help": "assumed price of an hour of this CPU machine, for the student's (and a local "
            "teacher's) cost per 1,000 items; $0.10/h is roughly a small 2-4 vCPU cloud VM"
        },
    )
    student_path: str | None = field(
        default=None,
        metadata={
            "help": "student folder (default: RUN/student, else RUN/student-causal/merged); a folder with "
            "llmkd_student.json is a causal student scored by label scoring",
            "metavar": "DIR",
        },
    )
    label_gold: bool = field(
        default=True,
        metadata={
            "help": "label the gold texts the run's teachers never saw with those teachers (as generate "
            "would, each answer cached in RUN/ledger.sqlite); API teachers only with "
            "--label-gold-with-api-teachers"
        },
    )
    label_gold_with_api_teachers: bool = field(
        default=False,
        metadata={
            "help": "let --label-gold send gold texts to the run's API teachers (needs --max-cost-usd)"
        },
    )
    max_cost_usd: float | None = field(
        default=None,
        metadata={
            "help": "the most API teachers may spend labelling gold texts here (cached answers are free)"
        },
    )
    misclassified_examples: int = field(
        default=20, metadata={"help": "misclassified gold items listed in the report (most confident first)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_cost_usd is not None and self.max_cost_usd <= 0:
            raise ConfigError(f"--max-cost-usd must be > 0, got {self.max_cost_usd}")
        if self.label_gold_with_api_teachers and self.max_cost_usd is None:
            raise ConfigError(
                "--label-gold-with-api-teachers needs --max-cost-usd (the most labelling the gold texts "
                "may cost)"
            )
