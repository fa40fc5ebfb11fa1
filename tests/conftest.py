"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_WORDS = (  # noqa: SIM905
    "the a of and to in is was for on by with as at its from has have will be said company profit loss "
    "sales revenue rose fell grew dropped increased decreased record strong weak growth decline up down "
    "percent million eur usd quarter year report shares share price market deal contract order orders "
    "jobs cut cuts layoffs warning warned raised lowered outlook guidance beat missed good bad great poor "
    "positive negative neutral up surge plunge gain gains losses meeting board annual published office "
    "located employs people operates stores headquarters new ceo appointed announced"
).split()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight BERT (hidden 32, 2 layers) + WordPiece tokenizer, saved as an HF folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    pieces = [f"##{c}" for c in letters] + list(".,;:!?-'\"()%$€")
    vocab = list(dict.fromkeys(specials + sorted(set(TINY_WORDS)) + letters + pieces))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    assert "[UNK]" not in tokenizer.tokenize("the company said profit rose")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
