"""Shared by the peer runners: the requests every client sends, and the JSON line each prints.

The peers run in their own virtual environment (``make bench-peers``), so this module imports nothing
from llmkd; ``bench/remote_throughput.py`` writes the exact llmkd request bodies to a JSON file and
passes its path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def load_bodies(path: str) -> list[dict[str, Any]]:
    """The chat-completion bodies llmkd sends (messages, json_schema, logprobs, top_logprobs)."""
    return json.loads(Path(path).read_text())


def report(name: str, n: int, seconds: float, ok: int) -> None:
    print(
        json.dumps(
            {
                "peer": name,
                "items": n,
                "seconds": round(seconds, 2),
                "items_per_s": round(n / seconds, 1),
                "good_items_per_s": round(ok / seconds, 1),
                "ok": ok,
                "lost": n - ok,
            }
        ),
        flush=True,
    )
    sys.stdout.flush()
