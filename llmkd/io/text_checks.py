"""Cheap text checks used by the filter: normalisation for dedup, length, non-alphabetic share, language.

All functions are pure and fast (a few microseconds per short text) so that they can run over
millions of texts.
"""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_WEB_TOKEN = re.compile(r"https?://\S+|www\.\S+|[@#$]\w+", re.UNICODE)  # URLs, @handles, #tags, $TICKERS

# Frequent English function words, weighed against OTHER_STOPWORDS by looks_english.
ENGLISH_STOPWORDS = frozenset(
    "a an the and or but of in on at to for from by with as is are was were be been has have had "  # noqa: SIM905
    "will would its it this that these those than after before over under up down per about into "
    "not no our their his her we they he she you i said says".split()
)


def normalize_text(text: str, *, mask_numbers: bool = False) -> str:
    """The dedup key of a text: NFKC, casefolded, punctuation removed, whitespace collapsed.

    Args:
        text: Any text.
        mask_numbers: Replace every number (``5``, ``7.25``, ``1,000``) by ``0`` so that templates
            differing only in figures ("rose 5%" / "rose 7%") compare equal.

    Returns:
        The normalised text (may be empty).
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    if mask_numbers:
        text = _NUMBER.sub("0", text)
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def length_ok(text: str, min_chars: int, max_chars: int) -> bool:
    """True when the stripped text has between ``min_chars`` and ``max_chars`` characters (inclusive)."""
    return min_chars <= len(text.strip()) <= max_chars


def non_alpha_fraction(text: str) -> float:
    """Share of non-whitespace characters that are not letters (digits, symbols, punctuation).

    Returns 1.0 for a text with no visible characters.
    """
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 1.0
    return sum(1 for c in visible if not c.isalpha()) / len(visible)


# Function words of German, French, Spanish, Italian, Dutch, Swedish and Finnish that are not English words.
OTHER_STOPWORDS = frozenset(
    """der das des dem den und ist nicht mit auf für von zu im eine einer sich auch nach wird
    le la les une des est et dans pour pas sur avec qui du au aux ce cette sont
    el los las en del por con para una es que se lo como más pero sus
    il di che della delle nel sono per gli
    het een van en zijn niet met voor op dat ook
    och att det som för på är med av till den har inte
    ja ei se oli ovat että mukaan tai kun myös vuonna""".split()  # noqa: SIM905
)


def looks_english(text: str, *, min_words_for_stopword_check: int = 8) -> bool:
    """A cheap language guess: mostly ASCII letters and, for longer texts, no more function words of
    other European languages than English ones.

    Headlines and tweets often have no function word at all ("London Underground Faces February Strike
    Action"), so only foreign ones count against a text; URLs, @handles, #tags and $tickers are not
    words. Short texts (fewer than ``min_words_for_stopword_check`` words) are judged by the letters
    alone. Texts without letters return True (the non-alphabetic check handles them).
    """
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    if sum(1 for c in letters if c.isascii()) / len(letters) < 0.8:
        return False
    tokens = words(_WEB_TOKEN.sub(" ", text))
    if len(tokens) < min_words_for_stopword_check:
        return True
    english = sum(1 for w in tokens if w in ENGLISH_STOPWORDS)
    foreign = sum(1 for w in tokens if w in OTHER_STOPWORDS)
    return english >= foreign


def words(text: str) -> list[str]:
    """Casefolded alphabetic words of a text (digits and punctuation dropped)."""
    return [w.casefold() for w in _WORD.findall(text)]
