"""Which teacher requests a run still has to send: ledger keys, re-send chains of invalid answers, and
the newest stored answer along a chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmkd.io.records import Item, TeacherOutput
from llmkd.run.ledger import RunLedger, request_key
from llmkd.teachers import Teacher
from llmkd.teachers.base import TeacherRequest


def resend_key(key: str, attempt: int) -> str:
    """Ledger key of the ``attempt``-th re-send of a request stored as invalid (0: the request itself)."""
    return key if attempt == 0 else f"{key}~resend{attempt}"


def latest_output(ledger: RunLedger, chain: Sequence[str]) -> TeacherOutput | None:
    """The newest stored answer along a request's re-send chain."""
    for key in reversed(chain):
        output = ledger.get(key)
        if output is not None:
            return output
    return None


@dataclass
class Plan:
    """The requests of one teacher: each item's re-send chains, and what must be sent now."""

    chains: dict[str, list[tuple[str, ...]]]
    todo: list[tuple[str, TeacherRequest, dict[str, Any]]]
    requests: int
    resends: int


def _keyed_requests(
    teacher: Teacher, items: Sequence[Item], samples: int
) -> list[tuple[str, TeacherRequest, dict[str, Any]]]:
    """Every request of ``teacher`` for ``items`` (``samples`` each) with its ledger key and payload."""
    keyed = []
    for item in items:
        for sample in range(samples):
            req = TeacherRequest(item=item, sample=sample)
            payload = teacher.request_payload(req)
            keyed.append((request_key(teacher.name, teacher.model, payload, {}, sample), req, payload))
    return keyed


def plan_requests(
    teacher: Teacher, items: Sequence[Item], samples: int, ledger: RunLedger, max_resends: int
) -> Plan:
    """Which requests the ledger lacks, and which stored-invalid ones get another try.

    A request whose stored answer is ``invalid`` (unparseable after re-asks, or out of retries) is sent
    again on a rerun under the key ``KEY~resendN``, at most ``max_resends`` times; the newest answer
    wins, and every paid answer stays in the ledger.
    """
    keyed = _keyed_requests(teacher, items, samples)
    depth = max(0, max_resends) + 1
    have = ledger.existing(resend_key(k, i) for k, _, _ in keyed for i in range(depth))
    chains: dict[str, list[tuple[str, ...]]] = {}
    todo: list[tuple[str, TeacherRequest, dict[str, Any]]] = []
    queued: set[str] = set()
    resends = 0
    for key, req, payload in keyed:
        chain = tuple(resend_key(key, i) for i in range(depth))
        by_item = chains.setdefault(req.item.id, [])
        if chain not in by_item:
            by_item.append(chain)
        stored = [k for k in chain if k in have]
        if not stored:
            send = key
        else:
            last = stored[-1]
            output = ledger.get(last)
            index = chain.index(last)
            if output is None or output.status == "ok" or index + 1 >= depth:
                continue
            send = chain[index + 1]
            resends += send not in queued
        if send not in queued:  # identical texts share one request
            queued.add(send)
            todo.append((send, req, payload))
    return Plan(chains=chains, todo=todo, requests=len(keyed), resends=resends)
