"""Outlier channels in fp32 around int8 MatMuls (the decomposition of LLM.int8(), Dettmers et al. 2022).

Dynamic int8 scales each MatMul's input by one range per batch. In a MiniLM student a single hidden channel
at the input of each feed-forward block reaches 20 to 30 while the median channel stays near 2, so that
channel sets the scale and the others lose most of their 256 levels. Here the few channels whose range,
measured on training-side texts, exceeds :data:`OUTLIER_RATIO` times the median are taken out of the int8
MatMul (their inputs zeroed) and multiplied in fp32 with their rows of the weight, and the two parts added:

    y = MatMul_int8(x * keep, W) + b + MatMul_fp32(Gather(x, outliers), W[outliers])

On two MiniLM students this halved the labels that differ from torch (bench/onnx), for one elementwise
multiply, one gather and one thin fp32 MatMul per decomposed input.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

OUTLIER_RATIO = 4.0  # a channel whose range exceeds this many times the median channel's stays fp32
MAX_OUTLIERS = 4  # at most this many fp32 channels per MatMul input (the largest ranges)
CALIBRATION_ITEMS = 500  # training-side texts whose activations give the channel ranges
SUFFIX = "_outliers"  # in the names of every node and tensor this module adds


def weight_matmuls(graph: Any, exclude: Iterable[str] = ()) -> list[Any]:
    """The MatMul nodes of ``graph`` whose second input is a constant weight, less those named in
    ``exclude`` (nodes that stay fp32 anyway)."""
    weights = {tensor.name for tensor in graph.initializer}
    skip = set(exclude)
    return [
        node
        for node in graph.node
        if node.op_type == "MatMul" and node.input[1] in weights and node.name not in skip
    ]


def channel_ranges(
    fp32: Path,
    batches: Iterable[dict[str, np.ndarray]],
    names: Sequence[str] | None = None,
    threads: int | None = None,
) -> dict[str, np.ndarray]:
    """The largest absolute value of each channel (last axis) of the tensors ``names`` (default: the input of
    every weight MatMul) of the graph at ``fp32``, over ``batches`` of its inputs (only the real tokens where
    a batch has an ``attention_mask``)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(fp32))
    if names is None:
        names = list(dict.fromkeys(node.input[0] for node in weight_matmuls(model.graph)))
    outputs = {output.name for output in model.graph.output}
    for name in names:
        if name not in outputs:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ranges: dict[str, np.ndarray] = {}
    for feed in batches:
        real = feed["attention_mask"].astype(bool) if "attention_mask" in feed else None  # (b, L)
        for name, value in zip(names, session.run(list(names), feed), strict=True):
            masked = real is not None and value.shape[:2] == real.shape
            tokens = value[real] if masked else value.reshape(-1, value.shape[-1])  # (tokens, H)
            peak = np.abs(tokens).max(axis=0)
            ranges[name] = np.maximum(ranges[name], peak) if name in ranges else peak
    return ranges


def outlier_channels(peak: np.ndarray, ratio: float = OUTLIER_RATIO, limit: int = MAX_OUTLIERS) -> list[int]:
    """The channels of ``peak`` (per-channel ranges) above ``ratio`` times the median, largest first, at
    most ``limit`` of them."""
    bar = ratio * float(np.median(peak))
    return [int(i) for i in np.argsort(peak)[::-1][:limit] if peak[i] > bar]


def bias_add(matmul: Any, readers: dict[str, list[Any]], weights: dict[str, Any]) -> Any | None:
    """The Add of a constant bias that alone reads ``matmul``'s output (None when there is none): adding the
    fp32 part after it leaves onnxruntime free to fuse the bias into the int8 MatMul."""
    after = readers.get(matmul.output[0], [])
    if len(after) == 1 and after[0].op_type == "Add" and any(name in weights for name in after[0].input):
        return after[0]
    return None


def split_outliers(
    fp32: Path,
    out: Path,
    ranges: dict[str, np.ndarray],
    exclude: Iterable[str] = (),
    ratio: float = OUTLIER_RATIO,
    limit: int = MAX_OUTLIERS,
) -> list[str]:
    """Write to ``out`` the graph at ``fp32`` with the outlier channels of each weight MatMul's input
    (``ranges`` from :func:`channel_ranges`) moved to an fp32 side MatMul; returns the side MatMuls'
    names, which the quantiser must leave in fp32. MatMuls named in ``exclude`` are left as they are."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    readers: dict[str, list[Any]] = defaultdict(list)  # tensor -> the nodes reading it
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    consumers: dict[str, list[Any]] = defaultdict(list)
    for node in weight_matmuls(graph, exclude):
        consumers[node.input[0]].append(node)
    before: dict[str, list[Any]] = defaultdict(list)  # node name -> nodes to insert before it
    after: dict[str, list[Any]] = defaultdict(list)
    side: list[str] = []
    for source, nodes in consumers.items():
        picked = outlier_channels(ranges[source], ratio, limit) if source in ranges else []
        if not picked:
            continue
        keep = np.ones(len(ranges[source]), dtype=np.float32)
        keep[picked] = 0.0
        mask, index = f"{source}{SUFFIX}/keep", f"{source}{SUFFIX}/index"
        inliers, outliers = f"{source}{SUFFIX}/inliers", f"{source}{SUFFIX}/channels"
        graph.initializer.extend(
            [numpy_helper.from_array(keep, mask), numpy_helper.from_array(np.array(picked), index)]
        )
        before[nodes[0].name] += [
            helper.make_node("Mul", [source, mask], [inliers], name=f"{source}{SUFFIX}/Mul"),
            helper.make_node("Gather", [source, index], [outliers], axis=-1, name=f"{source}{SUFFIX}/Gather"),
        ]
        for node in nodes:
            rows = numpy_helper.to_array(weights[node.input[1]])[picked, :]  # (k, out)
            rows_name = f"{node.input[1]}{SUFFIX}"
            graph.initializer.append(numpy_helper.from_array(rows.astype(np.float32), rows_name))
            node.input[0] = inliers
            last = bias_add(node, readers, weights) or node  # the fp32 part joins after the bias
            result = last.output[0]
            last.output[0] = f"{result}{SUFFIX}/int8"
            matmul = helper.make_node(
                "MatMul",
                [outliers, rows_name],
                [f"{result}{SUFFIX}/fp32"],
                name=f"{node.name}{SUFFIX}/MatMul",
            )
            add = helper.make_node(
                "Add", [last.output[0], matmul.output[0]], [result], name=f"{node.name}{SUFFIX}/Add"
            )
            after[last.name] += [matmul, add]
            side.append(matmul.name)
    ordered = [new for node in graph.node for new in (*before[node.name], node, *after[node.name])]
    del graph.node[:]
    graph.node.extend(ordered)
    onnx.save(model, str(out))
    return side
