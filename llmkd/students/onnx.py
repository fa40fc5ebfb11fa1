"""An encoder student run by onnxruntime on the CPU: no torch, no transformers.

``llmkd.export --format onnx`` (and ``llmkd.finetune`` after training an encoder student) writes
``student/onnx/`` beside the transformers folder:

- ``model.onnx``: the fp32 graph (inputs ``input_ids``, ``attention_mask`` [, ``token_type_ids``], output
  ``logits``; batch and sequence axes dynamic);
- ``model.int8.onnx``: the dynamically int8-quantised graph, when it kept the agreement asked for;
- ``tokenizer.json``: the student's fast tokenizer, read with the ``tokenizers`` library;
- ``onnx_student.json``: labels, tokens per text, opset, the quantisation chosen and the label agreement
  measured against the torch student (:class:`OnnxMeta`).

Keep this module free of torch and transformers imports: it is what a CPU-only deployment loads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from llmkd.errors import RunError

ONNX_DIR = "onnx"
META_FILE = "onnx_student.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MIN_AGREEMENT = 0.99  # the least label agreement with torch int8 must keep (lower end of its 95% interval)


@dataclass
class OnnxMeta:
    """What ``onnx_student.json`` records about an exported student."""

    labels: list[str]
    max_length: int
    pad_id: int
    inputs: list[str]
    opset: int
    model: str  # the file OnnxStudent runs: INT8_FILE, or FP32_FILE when int8 lost agreement
    parameters: int
    quantization: dict[str, Any] | None = None  # the int8 setting kept (None: fp32 only)
    agreement: dict[str, Any] = field(default_factory=dict)  # label agreement with torch, per candidate
    agreement_low: dict[str, float] = field(default_factory=dict)  # its 95% Wilson lower bound, per int8
    dev_items: int = 0
    export_s: float = 0.0

    @classmethod
    def read(cls, folder: Path) -> OnnxMeta:
        """``folder/onnx_student.json``.

        Raises:
            RunError: the file is missing or unreadable.
        """
        path = folder / META_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise RunError(f"{path}: not a readable ONNX student description ({exc})") from None


def onnx_folder(student: str | Path) -> Path:
    """``student/onnx``, where the ONNX export of the student folder ``student`` lives."""
    return Path(student) / ONNX_DIR


def session_options(threads: int | None = None) -> Any:
    """onnxruntime options: every graph optimisation, ``threads`` intra-op threads (None: ORT's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, C)`` logits, in float32."""
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


class OnnxStudent:
    """An exported encoder student on onnxruntime (a :class:`llmkd.students.base.Student`).

    Batches are padded to their longest text; with ``bucket`` the texts are run in order of length (and
    the rows returned in input order), so a batch holds texts of similar length and little padding.
    """

    kind = "encoder"
    max_batch_size: int | None = None
    device = "cpu"

    def __init__(
        self,
        folder: Path,
        meta: OnnxMeta,
        model_file: str | None = None,
        max_length: int | None = None,
        threads: int | None = None,
        bucket: bool = True,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder, self.meta, self.bucket = folder, meta, bucket
        self.model_file = model_file or meta.model
        self.labels = list(meta.labels)
        self.max_length = int(max_length or meta.max_length)
        path = folder / self.model_file
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads), providers=["CPUExecutionProvider"]
            )
            self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RunError(
                f"{path}: cannot load the ONNX student ({exc}); rerun llmkd export --format onnx"
            ) from None
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self.inputs = [i.name for i in self.session.get_inputs()]

    @classmethod
    def load(
        cls, student: str | Path, max_length: int | None = None, threads: int | None = None
    ) -> OnnxStudent:
        """The ONNX export in ``student/onnx`` (``student``: the transformers student folder).

        Raises:
            RunError: no ONNX export there.
        """
        folder = onnx_folder(student)
        if not (folder / META_FILE).is_file():
            raise RunError(
                f"{folder}: no ONNX student; run `llmkd export --run DIR --format onnx` (or finetune --onnx)"
            )
        return cls(folder, OnnxMeta.read(folder), max_length=max_length, threads=threads)

    def parameter_count(self) -> int:
        return self.meta.parameters

    def size_mb(self) -> float:
        return (self.folder / self.model_file).stat().st_size / 1e6

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The model inputs for ``texts``: ids, mask (and token types), padded to the longest text."""
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max((len(e.ids) for e in encodings), default=0)
        ids = np.full((len(encodings), width), self.meta.pad_id, dtype=np.int64)  # (b, L)
        mask = np.zeros((len(encodings), width), dtype=np.int64)  # (b, L)
        types = np.zeros((len(encodings), width), dtype=np.int64)  # (b, L)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
            types[row, : len(e.ids)] = e.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: arrays[name] for name in self.inputs}

    def order(self, texts: Sequence[str]) -> list[int]:
        """The order texts are run in: by length when ``bucket``, else as given."""
        if not self.bucket:
            return list(range(len(texts)))
        return sorted(range(len(texts)), key=lambda i: len(texts[i]))

    def predict_probs(self, texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> np.ndarray:
        """``(N, C)`` class probabilities, columns in :attr:`labels` order."""
        order = self.order(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="student", unit="batch", disable=not progress or len(starts) < 2):
            rows = order[start : start + batch_size]
            logits = self.session.run(["logits"], self.encode([texts[i] for i in rows]))[0]  # (b, C)
            out[rows] = softmax(np.asarray(logits))
        return out
