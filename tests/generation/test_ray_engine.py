"""generate --engine ray on a local Ray instance (2 CPUs): the labels of a plain run, with the tiny local
model (actor pool over Ray Data) and with the loopback OpenAI server (one task per shard)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmkd.errors import ConfigError
from llmkd.generate import main
from llmkd.generation.ray_engine import import_ray
from tests.servers.openai_server import OpenAIServer
from tests.test_generate_remote import MINI, write_input
from tests.tiny_runs import read_labels


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    import ray  # in the dev extra, so CI runs these

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", "sk-loopback")  # Ray workers inherit the driver's environment
        patch.delenv("OPENAI_BASE_URL", raising=False)
        patch.delenv("RAY_ADDRESS", raising=False)
        ray.init(num_cpus=2, include_dashboard=False)
        try:
            yield
        finally:
            ray.shutdown()


def by_id(run: Path) -> dict[str, dict]:
    records = read_labels(run)
    assert len({r["id"] for r in records}) == len(records)
    return {r["id"]: r for r in records}


def test_local_teacher_on_an_actor_pool_gives_the_plain_labels(
    tmp_path: Path, tiny_llama: Path, ray_local: None
) -> None:
    data = write_input(tmp_path / "in.csv", 24)
    args = [
        "--input",
        str(data),
        "--teacher",
        f"hf:{tiny_llama}",
        "--batch-size",
        "4",
        "--max-new-tokens",
        "3",
    ]
    assert main([*args, "--run", str(tmp_path / "plain")]) == 0
    ray_run = tmp_path / "ray"
    assert main([*args, "--run", str(ray_run), "--engine", "ray", "--shards", "3", "--ray-workers", "2"]) == 0
    plain, got = by_id(tmp_path / "plain"), by_id(ray_run)
    assert set(got) == set(plain) and len(list((ray_run / "labels").glob("part-*.parquet"))) == 3
    for key, record in plain.items():
        assert got[key]["label"] == record["label"]
        for label, p in record["probs"].items():  # other batch neighbours, other padding: float noise only
            assert got[key]["probs"][label] == pytest.approx(p, abs=1e-4)


def test_api_teacher_as_one_task_per_shard_gives_the_plain_labels(tmp_path: Path, ray_local: None) -> None:
    data = write_input(tmp_path / "in.csv", 40)
    runs = {}
    for name, extra in (("plain", []), ("ray", ["--engine", "ray", "--shards", "2"])):
        with OpenAIServer() as server:  # a fresh server per run: its draws depend on the attempt number
            args = ["--input", str(data), "--teacher", MINI, "--base-url", server.url]
            assert main([*args, "--run", str(tmp_path / name), *extra]) == 0
            runs[name] = len(server.record.bodies)
    assert runs["ray"] == runs["plain"] == 40  # each item asked once, by one shard
    assert by_id(tmp_path / "ray") == by_id(tmp_path / "plain")


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'llmkd\[ray\]'"):
        import_ray()


def test_flags_a_shard_cannot_honour_are_refused_before_ray_starts(tmp_path: Path) -> None:
    data = write_input(tmp_path / "in.csv", 3)
    args = ["--input", str(data), "--teacher", "lexicon", "--run", str(tmp_path / "run"), "--engine", "ray"]
    with pytest.raises(ConfigError, match=r"--shard cannot be combined with --augment"):
        main([*args, "--shards", "2", "--augment", "2"])
    with pytest.raises(ConfigError, match=r"--shards N"):
        main(args)
