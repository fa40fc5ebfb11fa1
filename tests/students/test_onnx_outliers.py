"""Outlier channels in fp32 beside the int8 MatMuls: channel choice, exactness in fp32, error under int8."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnx
import pytest

from llmkd.students.onnx import FP32_FILE, OnnxMeta, OnnxStudent, onnx_folder
from llmkd.students.onnx_export import (
    CANDIDATES,
    Quantization,
    calibration_ranges,
    export_onnx_student,
    fp32_nodes,
    quantize,
)
from llmkd.students.onnx_outliers import SUFFIX, channel_ranges, outlier_channels, split_outliers
from tests.tiny_runs import LABELS, PHRASES, save_encoder_student

PLAIN = Quantization("int8")
OUTLIERS = Quantization("int8, outliers fp32", outliers=True)


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"the company said {rng.choice(PHRASES[LABELS[i % 3]])} in the quarter" for i in range(n)]


def logits(folder: Path, meta: OnnxMeta, file: str, texts: list[str]) -> np.ndarray:
    student = OnnxStudent(folder, meta, file, bucket=False)
    return np.asarray(student.session.run(["logits"], student.encode(texts))[0])  # (N, C)


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """A tiny encoder student exported to fp32 ONNX."""
    folder = save_encoder_student(tmp_path_factory.mktemp("outliers") / "student", tiny_bert_dir)
    export_onnx_student(folder, [])  # fp32 only
    return folder


def one_matmul(path: Path, weight: np.ndarray) -> None:
    """A graph ``y = x @ weight`` with ``x`` of shape (batch, tokens, channels)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="dense/MatMul")],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", weight.shape[1]])],
        [numpy_helper.from_array(weight.astype(np.float32), "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_outlier_channels_are_the_largest_above_the_ratio() -> None:
    peak = np.array([1.0, 1.2, 0.9, 10.0, 1.1, 5.0, 1.0])
    assert outlier_channels(peak, ratio=4.0, limit=4) == [3, 5]
    assert outlier_channels(peak, ratio=4.0, limit=1) == [3]
    assert outlier_channels(np.ones(8), ratio=4.0) == []


def test_split_graph_computes_the_same_logits_in_fp32(tiny_student: Path) -> None:
    folder = onnx_folder(tiny_student)
    meta = OnnxMeta.read(folder)
    texts = sentences(40)
    ranges = calibration_ranges(OnnxStudent(folder, meta, FP32_FILE), texts)
    keep = fp32_nodes(folder / FP32_FILE, PLAIN)
    side = split_outliers(folder / FP32_FILE, folder / "split.onnx", ranges, exclude=keep, ratio=1.5)
    assert side and all(SUFFIX in name for name in side)
    assert not any(name.startswith(head) for name in side for head in keep)  # the head is left alone
    np.testing.assert_allclose(
        logits(folder, meta, "split.onnx", texts), logits(folder, meta, FP32_FILE, texts), atol=1e-5
    )
    quantize(folder / FP32_FILE, folder / "outliers.int8.onnx", OUTLIERS, ranges)
    graph = onnx.load(str(folder / "outliers.int8.onnx")).graph
    assert not (folder / "outliers.int8.split.onnx").exists()
    assert {node.op_type for node in graph.node} >= {"DynamicQuantizeLinear", "MatMulInteger"}
    probs = OnnxStudent(folder, meta, "outliers.int8.onnx").predict_probs(texts, progress=False)
    assert probs.shape == (40, 3)


def test_outlier_channels_cut_the_int8_error(tmp_path: Path) -> None:
    """One input channel 30 times larger than the others: plain dynamic int8 spends its range on it."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 16, 64)).astype(np.float32)  # (b, t, channels)
    x[:, :, 7] *= 30.0
    one_matmul(tmp_path / "fp32.onnx", rng.normal(size=(64, 32)) / 8)
    ranges = channel_ranges(tmp_path / "fp32.onnx", [{"x": x[:2]}], ["x"])
    assert outlier_channels(ranges["x"]) == [7]
    quantize(tmp_path / "fp32.onnx", tmp_path / "plain.onnx", PLAIN)
    quantize(tmp_path / "fp32.onnx", tmp_path / "split.onnx", OUTLIERS, ranges)

    def run(name: str) -> np.ndarray:
        session = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(["y"], {"x": x[2:]})[0])

    reference = run("fp32.onnx")
    plain, split = (float(np.abs(run(name) - reference).mean()) for name in ("plain.onnx", "split.onnx"))
    assert split < 0.25 * plain


def test_every_candidate_with_outliers_is_tried_after_plain_int8() -> None:
    assert not CANDIDATES[0].outliers and any(setting.outliers for setting in CANDIDATES[1:])
