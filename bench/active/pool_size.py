"""Does the 99%-at-30% target depend on the pool's size? The quick-student curves of ``run.py curves`` on
the tweets setting with every tweet of the training side as the pool (~5,700) instead of its first 3,000.

Same dev and test splits, same simulated teacher (its answers drawn for the larger pool at the same rates),
same planner replay (``run.curve``: 12 rounds of 2.5% to 30%, seeds 0-2); ``uncertainty`` and ``random``.

    python bench/active/pool_size.py          # -> results/pool-size-tweets.json (and the tweets-full data
                                              #    that ``run.py finetune --setting tweets-full`` reads)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from run import (
    DATA,
    RESULTS,
    SEEDS,
    TWEET_POOL,
    curve,
    environment,
    full_student,
    key,
    load,
    tweet_pool_dev_test,
)
from simulated_teacher import simulated_answers

from llmkd.run.files import write_json, write_jsonl
from llmkd.students.probe import embed

SETTING = "tweets-full"


def prepare_full_pool() -> None:
    """``run.prepare``'s tweets split without the 3,000 cut; the first 3,000 rows' embeddings are reused."""
    if (DATA / f"{SETTING}_pool.npy").is_file():
        return
    pool = tweet_pool_dev_test()[0]
    small_rows, small_vectors = load("tweets", "pool")
    assert [r["id"] for r in small_rows] == [r["id"] for r in pool[:TWEET_POOL]]
    teacher = simulated_answers((key(r["text"]), r["label"]) for r in pool)
    for r in pool:
        r["teacher"] = teacher[key(r["text"])]
    vectors = np.vstack(
        [small_vectors, embed([r["text"] for r in pool[TWEET_POOL:]], "minilm", progress=True)]
    )
    write_jsonl(DATA / f"{SETTING}_pool.jsonl", pool)
    np.save(DATA / f"{SETTING}_pool.npy", vectors)
    for part in ("dev", "test"):
        for suffix in ("jsonl", "npy"):
            target = DATA / f"{SETTING}_{part}.{suffix}"
            if not target.exists():
                target.symlink_to(f"tweets_{part}.{suffix}")


def main() -> None:
    start = time.perf_counter()
    prepare_full_pool()
    results: dict[str, Any] = {"setting": SETTING, "pool": len(load(SETTING, "pool")[0]), "curves": {}}
    results["full"] = full_student(SETTING)
    for strategy in ("uncertainty", "random"):
        results["curves"][strategy] = [curve(SETTING, strategy, seed) for seed in SEEDS]
    full = results["full"]["test"]
    print(f"pool {results['pool']}, all labels: test {full:.3f}, dev {results['full']['dev']:.3f}")
    for index in range(len(results["curves"]["uncertainty"][0])):
        row = []
        for strategy in ("uncertainty", "random"):
            test = [c[index]["test"] for c in results["curves"][strategy]]
            dev = [c[index]["dev"] for c in results["curves"][strategy]]
            row.append(
                f"{strategy} test {np.mean(test):.3f} ± {np.std(test):.3f} ({np.mean(test) / full:.1%}) dev {np.mean(dev):.3f}"
            )
        point = results["curves"]["uncertainty"][0][index]
        print(f"{point['calls']} ({point['share']:.1%}): " + "; ".join(row))
    results["environment"] = environment() | {"seconds": round(time.perf_counter() - start, 1)}
    write_json(RESULTS / "pool-size-tweets.json", results)


if __name__ == "__main__":
    main()
