"""The input flags every stage that reads a file shares: which file, and which columns hold what."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any, Literal

from llmkd.errors import ConfigError

Format = Literal["auto", "csv", "jsonl", "parquet", "text", "phrasebank", "hf"]

HF_PREFIX = "hf:"


@dataclass
class InputColumns:
    """Which columns of an input file hold what: the flags of every stage that reads a file."""

    _: KW_ONLY
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    id_column: str | None = field(
        default=None, metadata={"help": "Column holding unique item ids (default: a hash of the text)."}
    )
    label_column: str | None = field(
        default=None,
        metadata={
            "help": "Column holding gold labels (generate keeps them as 'gold'; evaluate's --gold file "
            "defaults to 'label')."
        },
    )
    label_map: str | None = field(
        default=None,
        metadata={
            "help": "Map raw label values to the task's labels, e.g. '0=negative,1=positive,2=neutral'."
        },
    )
    format: Format = field(
        default="auto",
        metadata={
            "help": "Input format; 'auto' picks by extension (.txt is PhraseBank when every line "
            "ends with @label) or by the hf: prefix."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Read only the first N items (file order)."})

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")

    def columns(self) -> InputColumns:
        """Just the column settings (a stage config that includes them returns a plain copy)."""
        return InputColumns(**{f.name: getattr(self, f.name) for f in fields(InputColumns)})


@dataclass
class InputSpec(InputColumns):
    """Where the input texts are, and which columns hold what."""

    path: str = field(
        metadata={
            "help": "Input file (.csv, .jsonl/.json/.ndjson, .parquet, .txt) or hf:NAME[:CONFIG][:SPLIT], "
            "where NAME is a hub dataset id or a local directory written by Dataset.save_to_disk."
        }
    )

    @classmethod
    def of(cls, path: str, columns: InputColumns, **overrides: Any) -> InputSpec:
        """The spec for ``path`` read with ``columns`` (``overrides`` replace single settings)."""
        values = {f.name: getattr(columns, f.name) for f in fields(InputColumns)} | overrides
        return cls(path, **values)
