"""The flags of ``python -m llmkd.predict``, with their help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from llmkd.errors import ConfigError
from llmkd.io.spec import InputColumns

THRESHOLD_FILE = "predict_threshold.json"


@dataclass
class PredictConfig(InputColumns):
    """Flags of ``python -m llmkd.predict``."""

    run: str | None = field(
        default=None, metadata={"help": "Run directory holding the trained student/.", "required": True}
    )
    input: str | None = field(
        default=None,
        metadata={
            "help": "Texts to label: .csv, .jsonl, .parquet, .txt or hf:NAME[:CONFIG][:SPLIT] (read with the "
            "column flags below)."
        },
    )
    output: str | None = field(
        default=None,
        metadata={
            "help": "Where to write the predictions: .csv, .jsonl or .parquet, with columns id, text, label, "
            "probs, confidence, answered_by. Written whole at the end; an interrupted run resumes from its "
            "last written chunk when rerun with the same command."
        },
    )
    batch_size: int = field(default=32, metadata={"help": "Texts per student forward pass."})
    chunk_rows: int = field(
        default=10_000,
        metadata={"help": "Rows read, scored and written at a time (memory grows with this, not the file)."},
    )
    backend: Literal["torch", "onnx"] = field(
        default="torch",
        metadata={
            "help": "torch: the transformers student; onnx: the ONNX student in student/onnx/ (fast on CPU)."
        },
    )
    device: str = field(
        default="auto", metadata={"help": "Torch device for the student ('auto': cuda when available)."}
    )
    max_length: int | None = field(
        default=None,
        metadata={"help": "Tokens per text for an encoder student (default: its training length)."},
    )
    task: str | None = field(default=None, metadata={"help": "Task name or YAML (default: the run's)."})
    defer_to: str | None = field(
        default=None,
        metadata={
            "help": "Cascade: send the items the student is unsure of to this teacher (any generate --teacher "
            "spec), through the run's ledger, privacy mode, redaction and --max-cost-usd; answered_by says who "
            "answered. Without --defer-below/--defer-fraction the threshold chosen by --calibrate is used.",
            "metavar": "TEACHER",
        },
    )
    defer_below: float | None = field(
        default=None,
        metadata={
            "help": "Defer the items whose student confidence (top probability) is below P.",
            "metavar": "P",
        },
    )
    defer_fraction: float | None = field(
        default=None,
        metadata={
            "help": "Defer the least confident fraction F of each chunk of --chunk-rows rows (a stream cannot be "
            "ranked as a whole; for one threshold over the file use --calibrate or --defer-below).",
            "metavar": "F",
        },
    )
    calibrate: str | None = field(
        default=None,
        metadata={
            "help": "Pick the --defer-below threshold on this labelled file (a dev split or the gold seed, never "
            "the test set): the student scores it, --defer-to answers it (cached in the ledger), and the "
            f"threshold meeting --target-accuracy or --max-defer-cost is printed and saved to RUN/{THRESHOLD_FILE}.",
            "metavar": "FILE",
        },
    )
    target_accuracy: float | None = field(
        default=None,
        metadata={"help": "--calibrate: the least deferral whose cascade accuracy reaches this."},
    )
    max_defer_cost: float | None = field(
        default=None,
        metadata={
            "help": "--calibrate: the most accurate threshold whose teacher spend stays within this many USD "
            "per 1,000 items.",
            "metavar": "USD",
        },
    )
    max_cost_usd: float | None = field(
        default=None, metadata={"help": "Stop before the teacher's new spend in this predict passes this."}
    )
    base_url: str | None = field(
        default=None,
        metadata={"help": "API base URL of --defer-to (default: the run's generate --base-url)."},
    )
    privacy: Literal["off", "local-only"] | None = field(
        default=None,
        metadata={
            "help": "local-only refuses a --defer-to teacher that is not local (default: the run's generate "
            "--privacy; a run made local-only stays so). LLMKD_PRIVACY=local-only forces it."
        },
    )
    redact: bool | None = field(
        default=None,
        metadata={
            "help": "Redact personal data before texts reach the teacher (default: the run's generate --redact)."
        },
    )
    cpu_usd_per_hour: float = field(
        default=0.10,
        metadata={"help": "Assumed price of an hour of CPU, for the student's cost in --calibrate."},
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1 or self.chunk_rows < 1:
            raise ConfigError("--batch-size and --chunk-rows must be at least 1")
        if self.defer_below is not None and self.defer_fraction is not None:
            raise ConfigError("give --defer-below or --defer-fraction, not both")
        if self.defer_fraction is not None and not 0.0 <= self.defer_fraction <= 1.0:
            raise ConfigError(f"--defer-fraction must be between 0 and 1, got {self.defer_fraction}")
        if (self.defer_below is not None or self.defer_fraction is not None) and not self.defer_to:
            raise ConfigError("--defer-below/--defer-fraction need --defer-to TEACHER")
        if self.calibrate and (self.target_accuracy is None) == (self.max_defer_cost is None):
            raise ConfigError("--calibrate needs one of --target-accuracy or --max-defer-cost")
