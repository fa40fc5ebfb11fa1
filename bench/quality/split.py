"""Write the Financial PhraseBank FinGPT split used by bench/quality.

sklearn ``train_test_split(items in file order, test_size=0.25, random_state=42)`` over
``Sentences_50Agree.txt`` gives 3,634 train / 1,212 test sentences. Writes ``train.jsonl`` and
``test.jsonl`` (``id``, ``text``, ``label``) under ``bench/quality/data/``. Also writes the Twitter
Financial News Sentiment train tweets as extra unlabelled text for the teachers: ``tweets_all.jsonl``
(all 9,543, ids ``tfns-<row>``) and ``tweets3000.jsonl`` (a seeded sample); their label (0 bearish ->
negative, 1 bullish -> positive, 2 neutral) is kept only to score the teachers.

python bench/quality/split.py
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from sklearn.model_selection import train_test_split

from llmkd.io.readers import InputSpec, read_items
from llmkd.run.files import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "financial_phrasebank" / "Sentences_50Agree.txt"
DEFAULT_TWEETS = ROOT.parent / "shared" / "data" / "tfns" / "sent_train.csv"
TFNS_LABELS = {"0": "negative", "1": "positive", "2": "neutral"}
OUT = Path(__file__).resolve().parent / "data"


def write_split(data: Path = DEFAULT_DATA, out: Path = OUT) -> tuple[Path, Path]:
    """Split the PhraseBank file and write ``train.jsonl`` / ``test.jsonl``; return their paths."""
    items = read_items(InputSpec(path=str(data), format="phrasebank"))
    train, test = train_test_split(items, test_size=0.25, random_state=42)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "train.jsonl", out / "test.jsonl"
    for path, part in zip(paths, (train, test), strict=True):
        write_jsonl(path, ({"id": it.id, "text": it.text, "label": it.label} for it in part))
    return paths


def write_tweets(data: Path = DEFAULT_TWEETS, out: Path = OUT, sample: int = 3000) -> tuple[Path, Path]:
    """``tweets_all.jsonl`` in file order and ``tweets3000.jsonl``: ``sample`` rows drawn with
    ``random.Random(0)``, in an order shuffled with ``random.Random(1)``."""
    with data.open(encoding="utf-8", newline="") as f:
        rows = [
            {"id": f"tfns-{i}", "text": r["text"], "label": TFNS_LABELS[r["label"]]}
            for i, r in enumerate(csv.DictReader(f))
        ]
    chosen = sorted(random.Random(0).sample(range(len(rows)), sample))
    random.Random(1).shuffle(chosen)
    paths = out / "tweets_all.jsonl", out / f"tweets{sample}.jsonl"
    write_jsonl(paths[0], rows)
    write_jsonl(paths[1], (rows[i] for i in chosen))
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--tweets", default=str(DEFAULT_TWEETS))
    args = parser.parse_args()
    for p in (*write_split(Path(args.data)), *write_tweets(Path(args.tweets))):
        print(p, sum(1 for _ in p.open()))
