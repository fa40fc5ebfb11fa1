"""Typed-placeholder redaction of personal and account data before any text leaves the machine.

``Jane (jane.doe@bank.fi, IBAN FI21 1234 5600 0007 85)`` becomes ``Jane ([EMAIL_1], IBAN [IBAN_1])``.
Detected: e-mail addresses, phone numbers (international ``+CC`` form, US and European national forms,
or after a word such as "tel"), IBANs (mod-97 checksum), card numbers (Luhn), account numbers (after a
word such as "account"), US SSNs, UK National Insurance numbers and Finnish HETUs (check character).
Names are not detected: no offline name recogniser ships with llmkd.

The same value gets the same placeholder throughout a run. The mapping placeholder -> original is kept
in ``RUN/redaction_map.json`` (owner-only permissions), never sent; the ledger holds the redacted
prompts that were actually sent. Redaction is idempotent: placeholders contain nothing detectable.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from llmkd.errors import RunError
from llmkd.io.records import Item
from llmkd.run.files import write_json

MAP_FILE = "redaction_map.json"
MASK_CHAR = "\x00"  # stands in for a value already taken: not a word character, digit or space
PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|IBAN|CARD|ACCOUNT|SSN|NINO|HETU)_(\d+)\]")

# IBAN length per country (SEPA and common others); other countries: longest checksum-valid prefix.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "ES": 24, "FI": 18, "FO": 18,
    "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
HETU_CENTURY = {"+": 1800, "-": 1900, "U": 1900, "V": 1900, "W": 1900, "X": 1900, "Y": 1900}
HETU_CENTURY.update(dict.fromkeys("ABCDEF", 2000))


def luhn_valid(digits: str) -> bool:
    """Luhn checksum of a string of digits (card numbers)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of a compact IBAN (``DE89370400440532013000``)."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def hetu_valid(hetu: str) -> bool:
    """Finnish personal identity code: a real date and the right check character."""
    m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})([-+A-FU-Y])(\d{3})([0-9A-Y])", hetu)
    if m is None:
        return False
    day, month, year, sep, serial, check = m.groups()
    try:
        date(HETU_CENTURY[sep] + int(year), int(month), int(day))
    except ValueError:
        return False
    return HETU_CHECK[int(day + month + year + serial) % 31] == check


def _compact(value: str) -> str:
    return re.sub(r"[\s\-.()]", "", value)


Validator = Callable[[str], "str | None"]  # the matched text -> the part to redact (or None: no match)


def _iban(match: str) -> str | None:
    """The longest leading run of ``match`` that is a valid IBAN (a match may run into the next word)."""
    chars = [(i, c) for i, c in enumerate(match) if c.isalnum()]
    compact = "".join(c for _, c in chars)
    lengths = [IBAN_LENGTHS[compact[:2]]] if compact[:2] in IBAN_LENGTHS else range(len(compact), 14, -1)
    for n in lengths:
        if n <= len(compact) and iban_valid(compact[:n]):
            return match[: chars[n - 1][0] + 1]
    return None


def _card(match: str) -> str | None:
    """The longest run of whole digit groups in ``match`` that is a Luhn-valid 13-19 digit number."""
    where = [i for i, c in enumerate(match) if c.isdigit()]  # index of each digit
    digits = "".join(match[i] for i in where)
    for k in range(min(len(digits), 19), 12, -1):
        end = where[k - 1] + 1
        at_group_end = end == len(match) or not match[end].isdigit()
        if at_group_end and luhn_valid(digits[:k]) and len(set(digits[:k])) > 1:
            return match[:end]
    return None


def _phone(match: str) -> str | None:
    """At most 15 digits (E.164): trailing digit groups beyond that belong to something else."""
    while sum(c.isdigit() for c in match) > 15:
        cut = max(match.rfind(" "), match.rfind("-"), match.rfind("."))
        if cut <= 0:
            return None
        match = match[:cut].rstrip(" .-")
    return match if sum(c.isdigit() for c in match) >= 7 else None


def _hetu(match: str) -> str | None:
    return match if hetu_valid(match.upper()) else None


@dataclass(frozen=True)
class Detector:
    """One kind of PII: a pattern (group ``v`` = the value, if only part of the match) and a validator."""

    kind: str
    pattern: re.Pattern[str]
    validate: Validator | None = None


SEP = r"[ \-]?"
# Priority order: where two detectors overlap, the earlier one wins.
DETECTORS: tuple[Detector, ...] = (
    Detector("EMAIL", re.compile(r"(?<![\w.%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")),
    Detector("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]){11,32}"), _iban),
    Detector("CARD", re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-])"), _card),
    Detector("SSN", re.compile(r"(?<![\d\-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d\-])")),
    Detector(
        "NINO",
        re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
    ),
    Detector("HETU", re.compile(r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b"), _hetu),
    Detector(
        "ACCOUNT",
        re.compile(
            r"(?i:\b(?:account|acct|a/c|konto|tilinumero|tili)\b\.?(?:\s*(?:number|num|no\.?|nr\.?|#))?\s*[:#]?\s*)"
            r"(?P<v>\d(?:[ \-]?\d){4,24})(?!\d)"
        ),
    ),
    Detector(
        "PHONE",
        re.compile(
            r"(?<![\w+])\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,5}(?:[ .\-]?\d{1,5}){1,5}(?!\d)"  # +1 (212) 555-0147
            r"|(?<!\w)(?:\(\d{3}\)|\d{3})[ .\-]\d{3}[ .\-]\d{4}(?!\d)"  # (212) 555-0147, 212-555-0147
            r"|(?<![\w.,])0\d{1,4}[ \-]\d{3,4}[ \-]?\d{3,4}(?![\d.,])"  # 020 7946 0958, 09-123 4567
            r"|(?i:\b(?:tel|phone|mobile|mob|puh|gsm)\b\.?\s*[:.]?\s*)(?P<v>\+?\d(?:[ .\-]?\d){6,14})(?!\d)"
        ),
        _phone,
    ),
)  # fmt: skip


def _mask(text: str, spans: list[tuple[int, int, str]]) -> str:
    pieces, last = [], 0
    for start, end, _ in sorted(spans):
        pieces += [text[last:start], MASK_CHAR * (end - start)]
        last = end
    return "".join(pieces) + text[last:]


@dataclass
class Redactor:
    """Replaces PII with typed placeholders; the same value always gets the same placeholder.

    Attributes:
        mapping: placeholder -> original value (keep it local).
        counts: values replaced per kind in this run (occurrences, not distinct values).
    """

    mapping: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for placeholder, value in self.mapping.items():
            m = PLACEHOLDER.fullmatch(placeholder)
            if m is not None:
                self._by_value[(m.group(1), self._canonical(m.group(1), value))] = placeholder

    @staticmethod
    def _canonical(kind: str, value: str) -> str:
        return value.lower() if kind == "EMAIL" else _compact(value).upper()

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, self._canonical(kind, value))
        if key not in self._by_value:
            n = sum(1 for k, _ in self._by_value if k == kind) + 1
            self._by_value[key] = f"[{kind}_{n}]"
            self.mapping[self._by_value[key]] = value
        return self._by_value[key]

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, kind) of every value to redact, without overlaps (earlier detectors win)."""
        taken: list[tuple[int, int, str]] = []
        for detector in DETECTORS:
            # Values already taken are masked, so later detectors see what a second pass would see
            # (a placeholder there), which keeps redaction idempotent.
            masked = _mask(text, taken)
            pos = 0
            while (m := detector.pattern.search(masked, pos)) is not None:
                group = "v" if m.groupdict().get("v") is not None else 0
                start = m.start(group)
                value = m.group(group) if detector.validate is None else detector.validate(m.group(group))
                if not value:
                    pos = m.start() + 1  # a shorter match may start further on
                    continue
                end = pos = start + len(value)  # a trimmed match leaves the rest to search again
                if MASK_CHAR not in masked[start:end]:
                    taken.append((start, end, detector.kind))
        return sorted(taken)

    def redact(self, text: str) -> str:
        """``text`` with every detected value replaced by its placeholder."""
        out, last = [], 0
        for start, end, kind in self.spans(text):
            out += [text[last:start], self.placeholder(kind, text[start:end])]
            self.counts[kind] += 1
            last = end
        return "".join(out) + text[last:]


def restore_text(text: str, mapping: dict[str, str]) -> str:
    """Put the original values back in place of the placeholders ``mapping`` knows."""
    return PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def load_redaction_map(run_dir: str | Path) -> dict[str, str]:
    """The run's placeholder -> original mapping (empty if the run has none yet)."""
    path = Path(run_dir) / MAP_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mapping = data["placeholders"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise RunError(f"{path}: not a redaction map ({exc}); delete it only if the run is new") from None
    return {str(k): str(v) for k, v in mapping.items()}


def redact_items(items: Sequence[Item], run_dir: str | Path, *, save: bool = True) -> list[Item]:
    """Items with PII replaced by placeholders; the mapping is merged into ``RUN/redaction_map.json``
    (unless ``save`` is False, as for a dry run).

    The existing mapping is loaded first, so a resumed run redacts every text exactly as before
    (same prompts, same ledger keys). Ids, gold labels and line numbers are kept.
    """
    redactor = Redactor(mapping=load_redaction_map(run_dir))
    out = [replace(item, text=redactor.redact(item.text)) for item in items]
    if not save:
        return out
    write_json(
        Path(run_dir) / MAP_FILE,
        {"placeholders": redactor.mapping, "counts": dict(sorted(redactor.counts.items()))},
        mode=0o600,  # it holds the original values: owner-only, whatever the umask
    )
    return out
