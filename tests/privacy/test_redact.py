"""Redaction: each PII kind becomes a typed placeholder, invalid numbers stay, the mapping restores,
and no planted PII reaches a (loopback) remote teacher, whether redaction is called directly or through
``generate --redact`` (``test_cli_redact_*``).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkd.io.records import Item
from llmkd.io.task import load_task
from llmkd.privacy.redact import (
    MAP_FILE,
    Redactor,
    hetu_valid,
    iban_valid,
    load_redaction_map,
    luhn_valid,
    redact_items,
    restore_text,
)
from llmkd.run.ledger import RunLedger
from llmkd.teachers import TeacherOptions, build_teacher
from llmkd.teachers.base import TeacherRequest
from tests.servers import Faults
from tests.servers.openai_server import OpenAIServer

# (kind, value planted in a sentence)
PLANTED = [
    ("EMAIL", "jane.doe@nordbank.fi"),
    ("EMAIL", "ir+press@kestrel-logistics.co.uk"),
    ("PHONE", "+358 40 123 4567"),
    ("PHONE", "+1 (212) 555-0147"),
    ("PHONE", "(212) 555-0199"),
    ("PHONE", "020 7946 0958"),
    ("IBAN", "FI21 1234 5600 0007 85"),
    ("IBAN", "DE89370400440532013000"),
    ("IBAN", "GB82 WEST 1234 5698 7654 32"),
    ("CARD", "4111 1111 1111 1111"),
    ("CARD", "5500-0000-0000-0004"),
    ("CARD", "378282246310005"),
    ("SSN", "123-45-6789"),
    ("NINO", "AB 12 34 56 C"),
    ("HETU", "131052-308T"),
]
ACCOUNT_TEXT = "Transfer the fee to account no. 1234-5678901 by Friday."


@pytest.mark.parametrize(("kind", "value"), PLANTED)
def test_each_kind_gets_a_typed_placeholder(kind: str, value: str) -> None:
    redactor = Redactor()
    text = f"Please contact the desk ({value}) before the results on 24 July."
    out = redactor.redact(text)
    assert out == f"Please contact the desk ([{kind}_1]) before the results on 24 July."
    assert redactor.mapping == {f"[{kind}_1]": value}
    assert restore_text(out, redactor.mapping) == text


def test_account_number_after_keyword() -> None:
    redactor = Redactor()
    assert redactor.redact(ACCOUNT_TEXT) == "Transfer the fee to account no. [ACCOUNT_1] by Friday."
    assert redactor.mapping["[ACCOUNT_1]"] == "1234-5678901"


@pytest.mark.parametrize(
    "text",
    [
        "Card 4111 1111 1111 1112 was declined.",  # Luhn-invalid
        "IBAN FI21 1234 5600 0007 86 is wrong.",  # bad checksum
        "ID 131052-308A is not a HETU.",  # wrong check character
        "ID 310252-308T has no such date.",
        "SSN 000-12-3456 and 666-12-3456 are never issued.",
        "Operating profit rose to EUR 18.6 million from EUR 12,345,678 in 2023-2024.",
        "Shares rose 12.5 percent to 1,234.50 on 24.7.2024 at 10:30.",
        "The 2019-2024 plan targets 4.5 million tonnes and 1 200 000 customers.",
    ],
)
def test_invalid_or_ordinary_numbers_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


def test_validators_against_known_values() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710") and not luhn_valid("12a4")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("DE8937040044053201300")  # one character short for Germany
    assert hetu_valid("131052-308T") and hetu_valid("010101A123N") is (
        "0123456789ABCDEFHJKLMNPRSTUVWXY"[10101123 % 31] == "N"
    )


def test_same_value_same_placeholder_and_idempotent() -> None:
    redactor = Redactor()
    text = "Mail jane@bank.fi or JANE@BANK.FI; IBAN DE89 3704 0044 0532 0130 00 = DE89370400440532013000."
    once = redactor.redact(text)
    assert once == "Mail [EMAIL_1] or [EMAIL_1]; IBAN [IBAN_1] = [IBAN_1]."
    assert redactor.redact(once) == once
    assert Redactor().redact(once) == once


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([v for _, v in PLANTED]),
            st.text(
                alphabet=st.characters(categories=("L", "Zs"), include_characters=",;:!?'\""), max_size=30
            ),
        ),
        max_size=6,
    )
)
def test_redaction_is_idempotent_and_restorable(parts: list[str]) -> None:
    text = " ".join(parts)
    redactor = Redactor()
    once = redactor.redact(text)
    assert redactor.redact(once) == once
    assert restore_text(once, redactor.mapping) == text or "[" in text  # a literal "[EMAIL_1]" is ambiguous
    for _, value in PLANTED:
        if value in text:
            assert value not in once


def test_redact_items_keeps_ids_and_persists_map(tmp_path: Path) -> None:
    items = [
        Item(id="a", text="Call +358 40 123 4567 now.", label="neutral", line=2),
        Item(id="b", text="Card 4111 1111 1111 1111 and +358 40 123 4567."),
    ]
    out = redact_items(items, tmp_path)
    assert [i.text for i in out] == ["Call [PHONE_1] now.", "Card [CARD_1] and [PHONE_1]."]
    assert (out[0].id, out[0].label, out[0].line) == ("a", "neutral", 2)
    path = tmp_path / MAP_FILE
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0  # owner-only
    data = json.loads(path.read_text())
    assert data["placeholders"] == {"[PHONE_1]": "+358 40 123 4567", "[CARD_1]": "4111 1111 1111 1111"}
    # a resumed run (items in another order, plus a new value) redacts exactly as before
    again = redact_items([Item(id="c", text="Mail x@y.io"), *reversed(items)], tmp_path)
    assert again[1].text == out[1].text and again[2].text == out[0].text and again[0].text == "Mail [EMAIL_1]"
    assert set(load_redaction_map(tmp_path)) == {"[PHONE_1]", "[CARD_1]", "[EMAIL_1]"}


def _planted_items() -> list[Item]:
    texts = [f"Client {i} ({value}) asked about the dividend." for i, (_, value) in enumerate(PLANTED)]
    texts.append(ACCOUNT_TEXT)
    return [Item(id=f"i{i}", text=t) for i, t in enumerate(texts)]


def _all_sent(server: OpenAIServer, bodies: list[str]) -> str:
    return "\n".join(bodies) + "\n" + "\n".join(server.record.texts)


class RecordingServer(OpenAIServer):
    """Keeps every raw request body."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.bodies: list[str] = []

    async def chat(self, request):  # type: ignore[no-untyped-def]
        self.bodies.append(await request.text())
        return await super().chat(request)


def test_no_planted_pii_reaches_the_server(tmp_path: Path) -> None:
    items = _planted_items()
    sent = redact_items(items, tmp_path)
    task = load_task("fin-sentiment")
    with RecordingServer(Faults(rate_malformed=0.3, seed=3)) as server:  # re-asks resend the text too
        teacher = build_teacher("vllm:m", task, TeacherOptions(base_url=server.url, max_attempts=2))
        with RunLedger(tmp_path / "ledger.sqlite") as ledger:

            def store(req: TeacherRequest, output) -> None:  # type: ignore[no-untyped-def]
                payload = teacher.request_payload(req)
                ledger.put(req.item.id, teacher=teacher.name, model=teacher.model, item_id=req.item.id,
                           sample=0, kind="label", request=payload, output=output)  # fmt: skip

            outputs = teacher.label([TeacherRequest(i) for i in sent], on_result=store)
            rows = list(ledger.rows())
    assert len(outputs) == len(items) and server.record.outcomes["malformed"] > 0
    seen = "\n".join(server.bodies)
    for _, value in PLANTED:
        assert value not in seen and value.replace(" ", "") not in seen.replace(" ", "")
    assert "1234-5678901" not in seen
    for kind in {k for k, _ in PLANTED} | {"ACCOUNT"}:
        assert f"[{kind}_1]" in seen
    # the ledger records what was actually sent: the redacted prompt
    ledger_text = json.dumps([r.request for r in rows])
    assert "[IBAN_1]" in ledger_text and "FI21 1234" not in ledger_text


# -- generate --redact ---------------------------------------------------------------------------------


def test_cli_redact_sends_no_pii(tmp_path: Path) -> None:
    from llmkd.generate import main

    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"text": i.text}) + "\n" for i in _planted_items()), encoding="utf-8")
    run = tmp_path / "run"
    with RecordingServer(Faults()) as server:
        argv = ["--input", str(path), "--run", str(run), "--teacher", "vllm:m", "--base-url", server.url]
        assert main([*argv, "--redact", "--no-rationale"]) == 0
    seen = "\n".join(server.bodies)
    ledger_bytes = (run / "ledger.sqlite").read_bytes()
    for _, value in PLANTED:
        assert value not in seen
        assert value.encode() not in ledger_bytes
    assert "[EMAIL_1]" in seen
    mapping = load_redaction_map(run)
    assert set(mapping.values()) >= {v for _, v in PLANTED}
    records = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    assert len(records) == len(PLANTED) + 1
