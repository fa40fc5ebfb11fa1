"""Write the Financial PhraseBank FinGPT split used by bench/quality.

sklearn ``train_test_split(items in file order, test_size=0.25, random_state=42)`` over
``Sentences_50Agree.txt`` gives 3,634 train / 1,212 test sentences. Writes ``train.jsonl`` and
``test.jsonl`` (``id``, ``text``, ``label``) under ``bench/quality/data/``.

python bench/quality/split.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sklearn.model_selection import train_test_split

from llmkd.readers import InputSpec, read_items
from llmkd.runio import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "financial_phrasebank" / "Sentences_50Agree.txt"
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    args = parser.parse_args()
    for p in write_split(Path(args.data)):
        print(p, sum(1 for _ in p.open()))
