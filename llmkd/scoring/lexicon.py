"""llmkd's finance polarity lexicon: word stems that are positive or negative *in financial text*.

Shared by the lexicon teacher and the filter's rationale-consistency check. It was written for llmkd in the
spirit of the Loughran–McDonald lists and is a heuristic: it scores 0.685 on Financial PhraseBank but close
to or below the majority class on tweets, headlines and forum posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from llmkd.io.text_checks import words

LEXICON_PATH = Path(__file__).resolve().parent / "finance_polarity.yaml"


@dataclass(frozen=True)
class Lexicon:
    """Polarity word stems (see ``llmkd/scoring/finance_polarity.yaml`` for the matching rules)."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    negators: frozenset[str]
    applies_to_labels: frozenset[str]

    def polarity_of(self, word: str) -> int:
        """+1, -1 or 0 for one casefolded word."""
        for sign, stems in ((1, self.positive), (-1, self.negative)):
            for stem in stems:
                if word == stem or (len(stem) >= 4 and word.startswith(stem)):
                    return sign
        return 0


@lru_cache(maxsize=8)
def load_lexicon(path: str | Path = LEXICON_PATH) -> Lexicon:
    """Load a polarity lexicon YAML (``positive``, ``negative``, ``negators``, ``applies_to_labels``)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return Lexicon(
        positive=tuple(str(w).casefold() for w in data["positive"]),
        negative=tuple(str(w).casefold() for w in data["negative"]),
        negators=frozenset(str(w).casefold() for w in data.get("negators", [])),
        applies_to_labels=frozenset(data.get("applies_to_labels", ["positive", "negative"])),
    )


def polarity_score(text: str, lexicon: Lexicon) -> int:
    """Positive minus negative lexicon hits; a negator up to two words before a hit flips its sign."""
    tokens = words(text)
    score = 0
    for i, token in enumerate(tokens):
        sign = lexicon.polarity_of(token)
        if sign and any(t in lexicon.negators for t in tokens[max(0, i - 2) : i]):
            sign = -sign
        score += sign
    return score
