"""Tiny random-weight models saved as Hugging Face folders, for tests that need a real model quickly.

- ``make_tiny_llama``: a 2-layer Llama-style causal LM with a word-level tokenizer and a ChatML template
  (a teacher for ``hf:PATH``, a causal student).
- ``make_tiny_bert``: a 2-layer BERT with a WordPiece tokenizer (an encoder student).

conftest.py serves one of each per session as the ``tiny_llama`` and ``tiny_bert_dir`` fixtures; call the
builders directly only when a test needs another seed or a private copy.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA_WORDS = (  # noqa: SIM905
    "system user assistant positive negative neutral hawkish dovish classify the following text "
    "answer with one label explain why profit rose fell company sales record loss jobs cut guidance "
    "raised a an of to in is was and for on . , : - < > / ( ) text"
).split()


def make_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide Llama and its tokenizer to ``folder``; returns the folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(specials + LLAMA_WORDS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=0,
        eos_token_id=3,
        bos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


BERT_WORDS = (  # noqa: SIM905
    "the a of and to in is was for on by with as at its from has have will be said company profit loss "
    "sales revenue rose fell grew dropped increased decreased record strong weak growth decline up down "
    "percent million eur usd quarter year report shares share price market deal contract order orders "
    "jobs cut cuts layoffs warning warned raised lowered outlook guidance beat missed good bad great poor "
    "positive negative neutral up surge plunge gain gains losses meeting board annual published office "
    "located employs people operates stores headquarters new ceo appointed announced"
).split()


def make_tiny_bert(folder: Path, seed: int = 0, dropout: float = 0.1) -> Path:
    """Save a 2-layer, 32-wide BERT (with ``dropout`` on hidden states and attention) and its WordPiece
    tokenizer to ``folder``; returns the folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    pieces = [f"##{c}" for c in letters] + list(".,;:!?-'\"()%$€")
    vocab = list(dict.fromkeys(specials + sorted(set(BERT_WORDS)) + letters + pieces))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    assert "[UNK]" not in tokenizer.tokenize("the company said profit rose")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
