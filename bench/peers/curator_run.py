"""bespokelabs-curator against the loopback server: ``curator_run.py URL BODIES.json CONCURRENCY [RPM]``."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from common import load_bodies, report


def main() -> None:
    url, bodies_path, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rpm = int(sys.argv[4]) if len(sys.argv) > 4 else 10_000_000
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    os.environ["CURATOR_CACHE_DIR"] = tempfile.mkdtemp()
    os.environ.setdefault("TELEMETRY_ENABLED", "false")
    import litellm

    # tiktoken's cl100k_base, which curator counts tokens with, ships inside litellm (no download)
    os.environ.setdefault(
        "TIKTOKEN_CACHE_DIR",
        os.path.join(os.path.dirname(litellm.__file__), "litellm_core_utils", "tokenizers"),
    )
    from bespokelabs import curator
    from datasets import Dataset

    bodies = load_bodies(bodies_path)
    first = bodies[0]

    class Labeller(curator.LLM):
        def prompt(self, row: dict) -> list[dict]:
            return row["messages"]

        def parse(self, row: dict, response: str) -> dict:
            return {"answer": response}

    llm = Labeller(
        model_name=first["model"],
        backend="openai",
        generation_params={
            "temperature": first["temperature"],
            "max_tokens": first["max_tokens"],
            "logprobs": True,
            "top_logprobs": first["top_logprobs"],
            "response_format": first["response_format"],
        },
        backend_params={
            "base_url": url,
            "max_concurrent_requests": concurrency,
            "max_requests_per_minute": rpm,
            "max_tokens_per_minute": 10**10,
            "max_retries": 20,
            "require_all_responses": False,
            "request_timeout": 30,
        },
    )
    data = Dataset.from_list([{"messages": b["messages"]} for b in bodies])
    start = time.perf_counter()
    out = llm(data)
    seconds = time.perf_counter() - start
    rows = out.dataset if hasattr(out, "dataset") else out
    ok = sum(1 for r in rows if r.get("answer"))
    report("bespokelabs-curator 0.1.31", len(bodies), seconds, ok)


if __name__ == "__main__":
    main()
