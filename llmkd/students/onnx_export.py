"""Export an encoder student folder to ONNX (``student/onnx/``) and choose its int8 quantisation.

The fp32 graph comes from ``torch.onnx.export``; int8 from onnxruntime's dynamic quantisation (int8
weights, activations quantised per batch at run time), tried in the settings of :data:`CANDIDATES`, fastest
first, on up to :data:`DEV_ITEMS` dev texts (texts from the training side of the run, never a test file);
some settings keep each MatMul input's outlier channels in fp32 (:mod:`llmkd.students.onnx_outliers`).

The first setting kept is the first whose label agreement with the torch student is, at 95% confidence, at
least ``min_agreement``: the lower end of the Wilson score interval of the measured agreement must reach it,
not the agreement itself. Accuracy on any split can move by at most the share of labels that differ, so the
bar bounds the accuracy lost; a point estimate does not, since 512 texts cannot tell 99% from 98% (a MiniLM
setting measured 99.0% on 512 dev texts and 97.6-98.3% on the PhraseBank test split, losing 0.6-1.1
accuracy points). At 0.99 the rule needs at least 381 texts even when every label agrees, and allows 3
differing labels in 1,024 texts, 11 in 2,000. When no setting clears it, the student runs in fp32 ONNX and
the export says so. Everything is written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmkd.errors import RunError, warn
from llmkd.run.files import atomic_dir, atomic_write_text
from llmkd.students.encoder import EncoderStudent, quiet_transformers
from llmkd.students.marker import read_marker
from llmkd.students.onnx import (
    FP32_FILE,
    INT8_FILE,
    META_FILE,
    MIN_AGREEMENT,
    TOKENIZER_FILE,
    OnnxMeta,
    OnnxStudent,
    onnx_folder,
)
from llmkd.students.onnx_outliers import CALIBRATION_ITEMS, channel_ranges, split_outliers

OPSET = 17
DEV_ITEMS = 2000  # texts that choose the int8 setting (torch, fp32 and each int8 candidate run them)
CONFIDENCE = 0.95  # of the Wilson interval whose lower end must reach min_agreement
HEAD_NODES = ("classifier", "pre_classifier", "pooler")  # names of the head's MatMul/Gemm nodes contain these
CARD_START, CARD_END = "<!-- llmkd:onnx -->", "<!-- /llmkd:onnx -->"


@dataclass(frozen=True)
class Quantization:
    """One setting of ``onnxruntime.quantization.quantize_dynamic``: int8 weights for the linear MatMuls
    (the embedding Gathers and the MatMuls between activations stay fp32), minus the nodes kept fp32."""

    name: str
    per_channel: bool = True  # a weight scale per output channel, not one per matrix
    keep_head: bool = True  # classifier head and pooler in fp32
    keep_ffn_output: bool = False  # each layer's second feed-forward MatMul (after GELU) in fp32
    outliers: bool = False  # each MatMul input's outlier channels in fp32 (llmkd.students.onnx_outliers)


# On two MiniLM sentiment students (2,000 training-side texts each, bench/onnx), label agreement with torch:
# per-channel int8 MatMuls 97.9% and 98.55%; with each input's outlier channels in fp32, 99.3% on both.
# ORT's default (per-tensor, embedding Gathers too) agreed on 95.9% of 512 texts.
CANDIDATES = (
    Quantization("int8 MatMuls, per-channel, fp32 head"),
    Quantization("int8 MatMuls, per-channel, fp32 head and outlier channels", outliers=True),
    Quantization(
        "int8 MatMuls, per-channel, fp32 head, outlier channels and feed-forward outputs",
        outliers=True,
        keep_ffn_output=True,
    ),
)


def dev_sample(texts: Sequence[str], n: int = DEV_ITEMS, seed: int = 0) -> list[str]:
    """Up to ``n`` distinct non-empty texts drawn with ``random.Random(seed)``, in draw order."""
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    return random.Random(seed).sample(unique, min(n, len(unique)))


def label_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows whose argmax agrees between two ``(N, C)`` probability arrays (1.0 when N = 0)."""
    return float((a.argmax(axis=1) == b.argmax(axis=1)).mean()) if len(a) else 1.0


def agreement_low(agree: int, n: int, confidence: float = CONFIDENCE) -> float:
    """The lower end of the Wilson score interval of ``agree`` labels agreeing out of ``n`` (0 when n = 0)."""
    from scipy.stats import binomtest

    return float(binomtest(agree, n).proportion_ci(confidence, method="wilson").low) if n else 0.0


def model_inputs(student: EncoderStudent) -> list[str]:
    """The inputs the graph takes: what the tokenizer gives and the model's forward accepts."""
    import inspect

    accepted = inspect.signature(student.model.forward).parameters
    return [name for name in student.tokenizer.model_input_names if name in accepted]


def export_fp32(student: EncoderStudent, path: Path, opset: int = OPSET) -> list[str]:
    """Trace ``student`` into an fp32 ONNX graph at ``path`` (batch and sequence axes dynamic)."""
    import torch

    names = model_inputs(student)

    class Logits(torch.nn.Module):
        """The student with its inputs by name, in ``names`` order, returning only the logits."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, tensors, strict=True))).logits  # (B, C)

    sample = ["the company said profit rose in the quarter", "loss"]  # two lengths: a padded batch
    batch = student.tokenizer(sample, padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    wrapped = Logits(student.model.cpu().eval())
    with warnings.catch_warnings(), quiet_transformers(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
        torch.onnx.export(
            wrapped,
            tuple(batch[name] for name in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return names


def fp32_nodes(path: Path, setting: Quantization) -> list[str]:
    """The MatMul/Gemm nodes of the graph at ``path`` that ``setting`` leaves in fp32."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    keep = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        head = setting.keep_head and any(part in node.name for part in HEAD_NODES)
        ffn_out = setting.keep_ffn_output and "/output/dense/" in node.name and "attention" not in node.name
        if head or ffn_out:
            keep.append(node.name)
    return keep


def quantize(
    fp32: Path, out: Path, setting: Quantization, ranges: dict[str, np.ndarray] | None = None
) -> None:
    """Dynamically quantise the graph at ``fp32`` to int8 weights at ``out``; a setting with ``outliers``
    needs the per-channel ``ranges`` of :func:`llmkd.students.onnx_outliers.channel_ranges`."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = fp32_nodes(fp32, setting)
    source = fp32
    if setting.outliers:
        source = out.with_suffix(".split.onnx")
        keep += split_outliers(fp32, source, ranges or {}, exclude=keep)
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # "consider pre-processing" chatter
    try:
        quantize_dynamic(
            str(source),
            str(out),
            per_channel=setting.per_channel,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep,
        )
    finally:
        logger.setLevel(level)
        if source != fp32:
            source.unlink(missing_ok=True)


def calibration_ranges(fp32: OnnxStudent, texts: list[str]) -> dict[str, np.ndarray]:
    """Per-channel ranges of every weight MatMul's input of the ``fp32`` student's graph over up to
    :data:`CALIBRATION_ITEMS` of ``texts``."""
    step = max(1, len(texts) // CALIBRATION_ITEMS)
    sample = texts[::step]
    batches = (fp32.encode(sample[i : i + 32]) for i in range(0, len(sample), 32))
    return channel_ranges(fp32.folder / fp32.model_file, batches)


def choose_int8(
    fp32: OnnxStudent, texts: list[str], reference: np.ndarray, min_agreement: float
) -> Quantization | None:
    """Quantise the ``fp32`` student's graph in each :data:`CANDIDATES` setting until the lower end of the
    Wilson interval of its label agreement with ``reference`` on ``texts`` reaches ``min_agreement``; keeps
    it as ``model.int8.onnx`` and records every agreement and lower end in its meta. None (and no int8 file)
    when none does."""
    if agreement_low(len(texts), len(texts)) < min_agreement:
        return None  # even perfect agreement on so few texts could not show it
    folder, meta = fp32.folder, fp32.meta
    trial = folder / "trial.int8.onnx"
    ranges: dict[str, np.ndarray] | None = None
    for setting in CANDIDATES:
        if setting.outliers and ranges is None:
            ranges = calibration_ranges(fp32, texts)
        quantize(folder / FP32_FILE, trial, setting, ranges)
        probs = OnnxStudent(folder, meta, trial.name).predict_probs(texts, progress=False)
        same = int((probs.argmax(axis=1) == reference.argmax(axis=1)).sum())
        meta.agreement[setting.name] = same / len(texts)
        low = agreement_low(same, len(texts))
        meta.agreement_low[setting.name] = round(low, 4)
        if low >= min_agreement:
            trial.rename(folder / INT8_FILE)
            return setting
    trial.unlink(missing_ok=True)
    return None


def write_onnx(
    student: EncoderStudent, folder: Path, texts: list[str], min_agreement: float, opset: int
) -> OnnxMeta:
    """Export fp32 and int8 into ``folder`` and write ``onnx_student.json``; returns what it records."""
    started = time.perf_counter()
    reference = student.predict_probs(texts, 32, progress=False)  # before tracing, which alters the model
    inputs = export_fp32(student, folder / FP32_FILE, opset)
    student.tokenizer.save_pretrained(str(folder / "hf-tokenizer"))
    shutil.move(folder / "hf-tokenizer" / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    shutil.rmtree(folder / "hf-tokenizer")
    meta = OnnxMeta(
        labels=list(student.labels),
        max_length=student.max_length,
        pad_id=int(student.tokenizer.pad_token_id or 0),
        inputs=inputs,
        opset=opset,
        model=FP32_FILE,
        parameters=student.parameter_count(),
        dev_items=len(texts),
    )
    fp32 = OnnxStudent(folder, meta)
    meta.agreement["fp32"] = label_agreement(fp32.predict_probs(texts, progress=False), reference)
    setting = choose_int8(fp32, texts, reference, min_agreement) if texts else None
    if setting is not None:
        meta.model, meta.quantization = INT8_FILE, {"dynamic": True, "weights": "int8", **asdict(setting)}
    meta.export_s = round(time.perf_counter() - started, 1)
    (folder / META_FILE).write_text(json.dumps(asdict(meta), indent=2) + "\n", encoding="utf-8")
    return meta


def export_onnx_student(
    student_dir: str | Path,
    dev_texts: Sequence[str],
    min_agreement: float = MIN_AGREEMENT,
    opset: int = OPSET,
) -> OnnxMeta:
    """Write ``student_dir/onnx/`` for the encoder student in ``student_dir``; returns its description.

    Args:
        student_dir: A transformers student folder (``RUN/student``).
        dev_texts: Training-side texts; up to :data:`DEV_ITEMS` of them choose the int8 setting.
        min_agreement: The least label agreement with the torch student int8 must keep, at 95% confidence
            (the lower end of the Wilson interval of the agreement measured on the dev texts).
        opset: The ONNX opset.

    Raises:
        RunError: the folder holds a causal student, or no loadable student.
    """
    student_dir = Path(student_dir)
    if read_marker(student_dir) is not None:
        raise RunError(f"{student_dir}: a causal student; ONNX export is for the encoder student only")
    student = EncoderStudent.load(student_dir)
    texts = sorted(dev_sample(dev_texts), key=len)  # short batches first: little padding
    with atomic_dir(onnx_folder(student_dir)) as tmp:
        meta = write_onnx(student, tmp, texts, min_agreement, opset)
    if meta.quantization is None and not texts:
        warn(
            f"{student_dir}: no training texts to check int8 against torch on; the ONNX student runs in fp32"
        )
    elif meta.quantization is None and not meta.agreement_low:
        warn(
            f"{student_dir}: {len(texts)} training texts cannot show int8 agreeing with torch on "
            f"{min_agreement:.1%} at 95% confidence; the ONNX student runs in fp32"
        )
    elif meta.quantization is None:
        warn(
            f"{student_dir}: int8 kept at most {best_int8(meta):.1%} label agreement on {len(texts)} dev "
            f"texts (95% lower bound {max(meta.agreement_low.values()):.1%} < {min_agreement:.1%}); the ONNX "
            "student runs in fp32 (export --format onnx --min-int8-agreement "
            f"{math.floor(max(meta.agreement_low.values()) * 1000) / 1000:.3f} would keep int8)"
        )
    add_card_section(student_dir, meta)
    return meta


def best_int8(meta: OnnxMeta) -> float:
    """The highest label agreement an int8 setting reached (0 when none was tried)."""
    return max((rate for name, rate in meta.agreement.items() if name != "fp32"), default=0.0)


def card_section(meta: OnnxMeta) -> str:
    """The model card's ONNX section: files, the quantisation kept, the agreement measured."""
    if meta.quantization is not None:
        kept = (
            f"`{INT8_FILE}` (dynamic int8: {meta.quantization['name']}) is the default; its labels agree "
            f"with the PyTorch student on {meta.agreement[meta.quantization['name']]:.1%} (95% lower bound "
            f"{meta.agreement_low[meta.quantization['name']]:.1%})"
        )
    else:
        kept = f"no int8 setting kept more than {best_int8(meta):.1%} agreement: the default is fp32"
    tried = ", ".join(f"{name} {rate:.1%}" for name, rate in meta.agreement.items())
    return f"""{CARD_START}
## ONNX (CPU inference)

`onnx/` holds the student for onnxruntime alone (tokenizer: `onnx/{TOKENIZER_FILE}`, read with the
`tokenizers` library; settings: `onnx/{META_FILE}`): `{FP32_FILE}` (fp32, opset {meta.opset}) and {kept}
of {meta.dev_items} training-side dev texts. Label agreement with PyTorch per graph: {tried}.

```python
from llmkd.students.base import load_student

student = load_student("path/to/student", backend="onnx")
student.predict_probs(["Operating profit rose 12 percent to EUR 4.1 million."])
```
{CARD_END}
"""


def add_card_section(student_dir: Path, meta: OnnxMeta) -> None:
    """Put :func:`card_section` into ``student_dir/README.md`` (replacing an earlier one)."""
    card = student_dir / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if CARD_START in text and CARD_END in text:
        head, rest = text.split(CARD_START, 1)
        text = head + rest.split(CARD_END, 1)[1].lstrip("\n")
    atomic_write_text(card, text.rstrip("\n") + "\n\n" + card_section(meta))


def export_summary(student_dir: Path, meta: OnnxMeta) -> dict[str, Any]:
    """What finetune's metrics record about the export."""
    return {
        "folder": str(onnx_folder(student_dir)),
        "model": meta.model,
        "quantization": meta.quantization["name"] if meta.quantization else None,
        "agreement": meta.agreement,
        "export_s": meta.export_s,
    }
