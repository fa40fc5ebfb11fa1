"""distilabel against the loopback server: ``distilabel_run.py URL BODIES.json INPUT_BATCH_SIZE``.

A ``ChatGeneration`` step over ``OpenAILLM``; distilabel sends each input batch concurrently, so its
``input_batch_size`` plays the part of the others' concurrency.
"""

from __future__ import annotations

import os
import sys
import time

from common import load_bodies, report


def main() -> None:
    url, bodies_path, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    from distilabel.models.llms import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import ChatGeneration

    bodies = load_bodies(bodies_path)
    first = bodies[0]
    with Pipeline(name="llmkd-bench") as pipeline:
        load = LoadDataFromDicts(data=[{"messages": b["messages"]} for b in bodies], batch_size=batch_size)
        chat = ChatGeneration(
            llm=OpenAILLM(
                model=first["model"],
                base_url=url,
                api_key="sk-bench",
                max_retries=20,
                timeout=30,
                generation_kwargs={
                    "max_new_tokens": first["max_tokens"],
                    "temperature": first["temperature"],
                    "logprobs": True,
                    "top_logprobs": first["top_logprobs"],
                    "extra_body": {"response_format": first["response_format"]},
                },
            ),
            input_batch_size=batch_size,
        )
        load >> chat
    start = time.perf_counter()
    distiset = pipeline.run(use_cache=False)
    seconds = time.perf_counter() - start
    rows = distiset["default"]["train"]
    ok = sum(1 for r in rows if r.get("generation"))
    report(f"distilabel 1.5.3 (input_batch_size {batch_size})", len(bodies), seconds, ok)


if __name__ == "__main__":
    main()
