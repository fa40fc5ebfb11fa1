"""Dev-only probe: sensitivity-guided partial int8 for an ONNX MiniLM student (never the test split).

Quantises every encoder MatMul (per-channel int8, fp32 head), then measures, per group (one MatMul type in
one layer), how many of the most fragile dev texts' labels come back when that group alone stays fp32;
restores the top 1, 2, 3, 4, 6, 8, 10, 12 groups (most sensitive first) until the 95% Wilson lower bound of
agreement with torch on the 2,000 dev texts (the export's sample) reaches 0.99; also tries reduce_range,
ActivationSymmetric and int8 on Q/K/V only, and times each graph against torch fp32 in one pass over 640 dev
texts (2 threads, batch 32, file order and length-sorted). Gains are counted against the all-int8 labels of
the full pass, so they carry a constant offset (batches differ); only their order is used.

    python bench/onnx/sensitivity.py --run RUN_DIR --work /tmp/onnx-probe  # results/sensitivity-NAME.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from llmkd.run.files import read_jsonl, write_json  # noqa: E402
from llmkd.students.encoder import EncoderStudent  # noqa: E402
from llmkd.students.onnx import OnnxMeta, OnnxStudent  # noqa: E402
from llmkd.students.onnx_export import agreement_low, dev_sample  # noqa: E402

THREADS, BATCH, FRAGILE = 2, 32, 300
TYPES = {
    "Q": "attention/self/query/",
    "K": "attention/self/key/",
    "V": "attention/self/value/",
    "attn-out": "attention/output/dense/",
    "ffn-in": "intermediate/dense/",
    "ffn-out": "/output/dense/",
}


def groups(model: Path) -> dict[str, list[str]]:
    """Linear MatMul nodes by (layer, type); the head (pooler, classifier) is always fp32."""
    import onnx

    out: dict[str, list[str]] = {}
    for node in onnx.load(str(model), load_external_data=False).graph.node:
        if node.op_type != "MatMul" or "layer." not in node.name:
            continue
        layer = node.name.split("layer.")[1].split("/")[0]
        for kind, part in TYPES.items():
            if part in node.name and not (kind == "ffn-out" and "attention" in node.name):
                out.setdefault(f"L{layer} {kind}", []).append(node.name)
    return out


def head(model: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "Gemm" or "pooler" in n.name or "classifier" in n.name]


def quantize(fp32: Path, out: Path, exclude: list[str], extra: dict[str, Any] | None = None) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(
        str(fp32),
        str(out),
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=exclude,
        extra_options=extra or {},
    )


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    run, work = Path(args.run), Path(args.work) / Path(args.run).name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(run / "student" / "onnx", work, ignore=shutil.ignore_patterns("*.int8.onnx"))
    meta = OnnxMeta.read(work)
    source = run / "filtered.jsonl" if (run / "filtered.jsonl").is_file() else run / "labels.jsonl"
    drawn = dev_sample([str(r["text"]) for r in read_jsonl(source) if r.get("text")])
    texts = sorted(drawn, key=len)
    torch_student = EncoderStudent.load(run / "student")
    ref = torch_student.predict_probs(texts, BATCH, progress=False).argmax(1)
    fp32 = work / "model.onnx"
    grp, keep = groups(fp32), head(fp32)
    report: dict[str, Any] = {"run": str(run), "dev_items": len(texts), "groups": len(grp)}

    def labels(model: Path, subset: list[str]) -> np.ndarray:
        student = OnnxStudent(work, meta, model.name, threads=THREADS)
        return student.predict_probs(subset, BATCH, progress=False).argmax(1)

    def full(name: str, exclude: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        path = work / "trial.onnx"
        quantize(fp32, path, exclude, extra)
        same = int((labels(path, texts) == ref).sum())
        row = {"agreement": same / len(texts), "low95": round(agreement_low(same, len(texts)), 4)}
        print(name, row, flush=True)
        shutil.copy(path, work / f"{name}.onnx")
        return row

    probs32 = OnnxStudent(work, meta, "model.onnx", threads=THREADS).predict_probs(
        texts, BATCH, progress=False
    )
    top2 = np.sort(probs32, axis=1)[:, -2:]
    all8 = full("all-int8", keep)
    report["all int8"] = all8
    for extra_name, extra in (("reduce_range", None), ("ActivationSymmetric", {"ActivationSymmetric": True})):
        path = work / "trial.onnx"
        from onnxruntime.quantization import QuantType, quantize_dynamic

        if extra_name == "reduce_range":
            quantize_dynamic(
                str(fp32),
                str(path),
                per_channel=True,
                reduce_range=True,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=keep,
            )
        else:
            quantize(fp32, path, keep, extra)
        same = int((labels(path, texts) == ref).sum())
        report[f"all int8 + {extra_name}"] = {
            "agreement": same / len(texts),
            "low95": round(agreement_low(same, len(texts)), 4),
        }
        print(extra_name, report[f"all int8 + {extra_name}"], flush=True)
    all8_labels = labels(work / "all-int8.onnx", texts)
    wrong = set(np.flatnonzero(all8_labels != ref).tolist())
    margin_order = np.argsort(top2[:, 1] - top2[:, 0]).tolist()
    fragile_idx = sorted(wrong | set(margin_order[: FRAGILE - len(wrong)]))
    fragile = [texts[i] for i in fragile_idx]
    fref = ref[fragile_idx]
    base_fixed = int((all8_labels[fragile_idx] == fref).sum())
    sens: dict[str, int] = {}
    started = time.perf_counter()
    for name, nodes in grp.items():
        quantize(fp32, work / "trial.onnx", keep + nodes)
        sens[name] = int((labels(work / "trial.onnx", fragile) == fref).sum()) - base_fixed
        print(name, sens[name], flush=True)
    report["sensitivity_s"] = round(time.perf_counter() - started, 1)
    report["sensitivity_gain_on_fragile"] = dict(sorted(sens.items(), key=lambda kv: -kv[1]))
    ranked = [n for n, _ in sorted(sens.items(), key=lambda kv: -kv[1])]
    greedy = []
    for k in (1, 2, 3, 4, 6, 8, 10, 12):
        row = full(f"fp32-top{k}", keep + [x for n in ranked[:k] for x in grp[n]])
        greedy.append({"fp32_groups": ranked[:k], **row})
        if row["low95"] >= 0.99:
            break
    report["greedy"] = greedy
    qkv = [x for n, nodes in grp.items() if n.split()[1] not in ("Q", "K", "V") for x in nodes]
    report["int8 Q/K/V only"] = full("qkv-only", keep + qkv)
    chosen = f"fp32-top{len(greedy[-1]['fp32_groups'])}"
    speeds: dict[str, Any] = {}
    for order, batch_texts in (("file order", drawn[:640]), ("length-sorted", sorted(drawn[:640], key=len))):
        for name, predict in (
            ("torch fp32", lambda t: torch_student.predict_probs(t, BATCH, progress=False)),
            ("onnx fp32", OnnxStudent(work, meta, "model.onnx", threads=THREADS, bucket=False).predict_probs),
            (
                "all int8",
                OnnxStudent(work, meta, "all-int8.onnx", threads=THREADS, bucket=False).predict_probs,
            ),
            (chosen, OnnxStudent(work, meta, f"{chosen}.onnx", threads=THREADS, bucket=False).predict_probs),
            (
                "qkv-only",
                OnnxStudent(work, meta, "qkv-only.onnx", threads=THREADS, bucket=False).predict_probs,
            ),
        ):
            predict(batch_texts[:BATCH])
            t0 = time.perf_counter()
            predict(batch_texts) if name == "torch fp32" else predict(batch_texts, BATCH, False)
            speeds[f"{name}, {order}"] = round(len(batch_texts) / (time.perf_counter() - t0), 1)
            print(name, order, speeds[f"{name}, {order}"], flush=True)
    report["items_per_s_dev"] = speeds
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["commit"] = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    write_json(HERE / "results" / f"sensitivity-{run.name}.json", report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
