"""``generate --engine ray``: the shards of a run as Ray work, with the same ledgers, locks and merge.

* API teachers: one Ray task per shard, each the plain ``generate --shard I/N`` (one async client with
  ``--concurrency`` requests in flight per shard).
* Local teachers: an actor pool over a Ray Data dataset of shards (``map_batches`` with a callable class):
  each actor builds the teachers once (one model load) and labels one shard per batch.

Every shard takes its own lock and writes its own ledger and part, exactly as a plain process does, so a
run can mix Ray and plain shards, and a shard that fails (or is killed with its node) is rerun alone. When
every shard asked for is complete, the driver merges them into ``RUN/labels.jsonl``. Ray is imported
lazily: llmkd works without it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from llmkd.errors import ConfigError, LlmkdError, RunError, warn
from llmkd.generation.merge import merge_shards
from llmkd.generation.sharding import check_shard_flags
from llmkd.io.task import Task, load_task
from llmkd.run.shards import Shard
from llmkd.teachers import LOCAL_KINDS, Teacher, teacher_kind

LabelShard = Callable[[Any, Sequence[Teacher] | None], Path]  # the stage's run_generate
BuildTeachers = Callable[[Any, Task], list[Teacher]]


def import_ray() -> ModuleType:
    """``ray``, or a one-line error naming the extra that installs it."""
    try:
        import ray
        import ray.data  # the actor pool runs on Ray Data
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'llmkd[ray]'") from None
    return ray


def ray_shards(config: Any) -> list[Shard]:
    """The shards to run: ``--shard I/N`` alone, else all of ``--shards N``."""
    if config.shard:
        return [Shard.parse(config.shard)]
    if not config.shards or config.shards < 1:
        raise ConfigError("--engine ray needs --shards N (all N shards) or --shard I/N (one)")
    return [Shard(i, config.shards) for i in range(config.shards)]


def run_shard(config: Any, label_shard: LabelShard, teachers: Sequence[Teacher] | None = None) -> str:
    """Label one shard; returns '' when it is done, else the one-line reason it stopped."""
    try:
        label_shard(config, teachers)
    except LlmkdError as exc:
        return str(exc) or type(exc).__name__
    return ""


class ShardLabeller:
    """A Ray Data actor: builds the teachers once, then labels one shard per row of each batch."""

    def __init__(self, config: Any, label_shard: LabelShard, build_teachers: BuildTeachers) -> None:
        self.config, self.label_shard = config, label_shard
        self.teachers = build_teachers(config, load_task(config.task))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        specs = [str(spec) for spec in batch["shard"]]
        problems = [
            run_shard(dataclasses.replace(self.config, shard=spec), self.label_shard, self.teachers)
            for spec in specs
        ]
        return {"shard": specs, "problem": problems}


def _on_tasks(ray: ModuleType, configs: Sequence[Any], label_shard: LabelShard) -> dict[str, str]:
    remote = ray.remote(run_shard)
    problems = ray.get([remote.remote(c, label_shard) for c in configs])
    return {c.shard: p for c, p in zip(configs, problems, strict=True)}


def _on_actor_pool(
    ray: ModuleType, config: Any, shards: Sequence[Shard], label_shard: LabelShard, build: BuildTeachers
) -> dict[str, str]:
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if config.device != "cpu" else 0
    workers = config.ray_workers or max(1, gpus or int(resources.get("CPU", 1)))
    dataset = ray.data.from_items([{"shard": s.spec} for s in shards], override_num_blocks=len(shards))
    labelled = dataset.map_batches(
        ShardLabeller,
        fn_constructor_args=(config, label_shard, build),
        batch_size=1,
        concurrency=min(workers, len(shards)),
        num_gpus=1 if gpus else 0,
        num_cpus=0 if gpus else 1,
    )
    return {str(row["shard"]): str(row["problem"]) for row in labelled.take_all()}


def run_on_ray(config: Any, label_shard: LabelShard, build_teachers: BuildTeachers) -> Path:
    """Run the shards of ``config`` on Ray, then merge them when all of them were asked for.

    Raises:
        ConfigError: Ray is not installed, or --run / --shards is missing.
        RunError: some shards failed (each is named on stderr; the finished ones are kept).
    """
    ray = import_ray()
    shards = ray_shards(config)
    if not config.input or not config.run:
        raise ConfigError("--engine ray needs --input and --run (a folder every Ray worker can reach)")
    one = dataclasses.replace(config, engine="process", shards=None, shard=None)
    configs = [dataclasses.replace(one, shard=s.spec) for s in shards]
    check_shard_flags(configs[0])  # refuse here, not once per shard on the cluster
    started = not ray.is_initialized()
    if started:
        joining = config.ray_address or os.environ.get("RAY_ADDRESS")
        ray.init(address=config.ray_address, **({} if joining else {"include_dashboard": False}))
    try:
        local = any(teacher_kind(spec) in LOCAL_KINDS for spec in config.teacher)
        problems = (
            _on_actor_pool(ray, one, shards, label_shard, build_teachers)
            if local
            else _on_tasks(ray, configs, label_shard)
        )
    finally:
        if started:
            ray.shutdown()
    failed = {spec: why for spec, why in problems.items() if why}
    for spec, why in failed.items():
        warn(f"shard {spec}: {why}")
    if failed:
        first = next(iter(failed))
        raise RunError(
            f"{len(failed)} of {len(shards)} shards stopped (shard {first}: {failed[first]}); rerun them "
            "(finished shards are kept)"
        )
    run_dir = Path(config.run)
    if config.shard is None:
        merge_shards(run_dir, parquet=config.merge_parquet)
    return run_dir
