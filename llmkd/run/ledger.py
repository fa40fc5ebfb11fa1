"""The run ledger: every teacher request and its response, in SQLite (WAL), keyed by a content hash.

A row is written, in its own transaction, as soon as its response arrives, so a run that is killed
resumes where it stopped and a rerun pays for nothing it already has.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkd.io.records import TeacherOutput

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    model TEXT NOT NULL,
    item_id TEXT NOT NULL,
    sample INTEGER NOT NULL,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    output TEXT NOT NULL,
    status TEXT NOT NULL,
    cost_usd REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_item ON requests(item_id);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
"""


def request_key(teacher: str, model: str, prompt: Any, params: dict[str, Any], sample: int) -> str:
    """Hash of everything that determines a teacher's answer: same key, same (cached) answer."""
    blob = json.dumps([teacher, model, prompt, params, sample], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LedgerRow:
    key: str
    teacher: str
    model: str
    item_id: str
    sample: int
    kind: str
    request: dict[str, Any]
    output: TeacherOutput


class RunLedger:
    """SQLite store of teacher requests for one run directory (thread-safe, one connection)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, key: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM requests WHERE key=?", (key,)).fetchone() is not None

    def existing(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already stored."""
        keys = list(keys)
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(keys), 900):
                chunk = keys[start : start + 900]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(f"SELECT key FROM requests WHERE key IN ({marks})", chunk)
                found.update(r[0] for r in rows)
        return found

    def get(self, key: str) -> TeacherOutput | None:
        with self._lock:
            row = self._conn.execute("SELECT output FROM requests WHERE key=?", (key,)).fetchone()
        return TeacherOutput.from_dict(json.loads(row[0])) if row else None

    def put(
        self,
        key: str,
        *,
        teacher: str,
        model: str,
        item_id: str,
        sample: int,
        kind: str,
        request: dict[str, Any],
        output: TeacherOutput,
    ) -> None:
        """Store one completed request atomically (first write wins)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    teacher,
                    model,
                    item_id,
                    sample,
                    kind,
                    json.dumps(request, ensure_ascii=False),
                    json.dumps(output.to_dict(), ensure_ascii=False),
                    output.status,
                    output.cost_usd,
                    time.time(),
                ),
            )

    def rows(self, teacher: str | None = None) -> Iterator[LedgerRow]:
        sql = "SELECT key, teacher, model, item_id, sample, kind, request, output FROM requests"
        args: tuple[Any, ...] = ()
        if teacher is not None:
            sql += " WHERE teacher=?"
            args = (teacher,)
        with self._lock:
            fetched = self._conn.execute(sql + " ORDER BY created", args).fetchall()
        for key, t, m, item_id, sample, kind, req, out in fetched:
            yield LedgerRow(
                key, t, m, item_id, sample, kind, json.loads(req), TeacherOutput.from_dict(json.loads(out))
            )

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def total_cost(self) -> float:
        with self._lock:
            return float(self._conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM requests").fetchone()[0])

    # Batch-API jobs, so a restarted run picks up a running job instead of submitting again.
    def put_job(self, job_id: str, *, teacher: str, kind: str, state: str, payload: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            self._conn.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?) ON CONFLICT(job_id) DO UPDATE SET "
                "state=excluded.state, payload=excluded.payload, updated=excluded.updated",
                (job_id, teacher, kind, state, json.dumps(payload), now, now),
            )

    def jobs(self, teacher: str, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT job_id, kind, state, payload FROM jobs WHERE teacher=?"
        args: list[Any] = [teacher]
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY created", args).fetchall()
        return [{"job_id": j, "kind": k, "state": s, "payload": json.loads(p)} for j, k, s, p in rows]
