"""Hostile input: any bytes as a task file give a Task or a one-line TaskError naming the file; very long
texts are cut to the model's limit and counted; redaction and fencing handle pathological texts.

Readers are fuzzed in tests/io/test_readers_fuzz.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkd.errors import TaskError
from llmkd.io.paths import prompts_dir
from llmkd.io.records import Item
from llmkd.io.task import Task, load_task
from llmkd.io.text_limits import fence_text, text_token_budget, truncate_text, truncate_texts
from llmkd.privacy.redact import Redactor

BASE = (prompts_dir() / "fin-sentiment.yaml").read_text(encoding="utf-8")
FIELDS = ["name", "description", "labels", "system", "user_template", "rationale_instruction",
          "augment_instruction", "few_shot"]  # fmt: skip


def _load(tmp_path: Path, data: bytes, one_line: bool = True) -> Task | None:
    path = tmp_path / "task.yaml"
    path.write_bytes(data)
    try:
        return load_task(path)
    except TaskError as exc:
        assert str(path) in str(exc)
        assert not one_line or "\n" not in str(exc).strip(), str(exc)
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_task_loader_any_bytes(tmp_path: Path, data: bytes) -> None:
    task = _load(tmp_path, data)  # any other exception fails the test
    assert task is None or "Profit rose." in task.user_prompt("Profit rose.")


def _values() -> st.SearchStrategy[object]:
    scalar = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
        st.text(max_size=40),
        st.sampled_from(["{text}", "{text", "}{", "{0}", "{text!r:>{n}}", "{label_list.x}", "{text[0]}",
                         "{text[x]}", "{text.__class__}", "{{text}}", "{n:%}", "{label_definitions!z}"]),
    )  # fmt: skip
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(FIELDS), _values(), max_size=4), st.sampled_from(["{text}", ""]))
def test_task_loader_mutated_fields(tmp_path: Path, changes: dict[str, object], suffix: str) -> None:
    """The valid task with some fields replaced by odd values: a Task or a TaskError naming the file."""
    data = yaml.safe_load(BASE)
    for key, value in changes.items():
        data[key] = value + suffix if isinstance(value, str) and key == "user_template" else value
    task = _load(tmp_path, yaml.safe_dump(data, allow_unicode=True).encode(), one_line=False)
    if task is not None:  # a loaded task renders every prompt without raising
        messages = task.messages("Profit rose.")
        assert messages[-1]["role"] == "user" and "Profit rose." in messages[-1]["content"]
        assert isinstance(task.augment_prompt(task.labels[0], 2), str)


@pytest.mark.parametrize(
    "content",
    [
        "[" * 5000,  # nested too deeply for the YAML parser
        BASE.replace("Classify the following text.", "Classify {text[x]}"),  # placeholders name no index,
        BASE.replace("Classify the following text.", "Classify {text.upper}"),  # no attribute,
        BASE.replace("Classify the following text.", "{text.__class__.__mro__}"),  # no object internals
        "name: x\nlabels: !!python/object/apply:os.system ['echo pwned']\n",
        "\ufeffname: [unclosed",
        "a: &a [*a]\n",
        yaml.safe_dump({**yaml.safe_load(BASE), "labels": {"a\nb": None, "c": "d"}}),  # error stays one line
    ],
)
def test_task_loader_hostile_files(tmp_path: Path, content: str) -> None:
    assert _load(tmp_path, content.encode("utf-8")) is None


# -- very long texts ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word_tokenizer(tiny_llama: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama)


@pytest.fixture(scope="module")
def bpe_tokenizer():  # type: ignore[no-untyped-def]
    """A byte-level BPE trained in code: multi-byte characters split into several tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(["profit rose sharply", "sales fell", "the company said"] * 50, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core)


def test_truncate_counts_and_keeps_prefix(word_tokenizer) -> None:  # type: ignore[no-untyped-def]
    long = " ".join(["profit rose"] * 400)
    items = [Item(id="a", text="profit rose"), Item(id="b", text=long, label="positive", line=7)]
    out, n_cut = truncate_texts(items, word_tokenizer, 50)
    assert n_cut == 1 and out[0] is items[0]
    assert len(word_tokenizer(out[1].text, add_special_tokens=False).input_ids) == 50
    assert long.startswith(out[1].text) and (out[1].id, out[1].label, out[1].line) == ("b", "positive", 7)
    again, n_again = truncate_texts(out, word_tokenizer, 50)
    assert n_again == 0 and again == out


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400), st.integers(min_value=1, max_value=64))
def test_truncate_never_exceeds_budget(bpe_tokenizer, text: str, budget: int) -> None:  # type: ignore[no-untyped-def]
    cut, was_cut = truncate_text(text, bpe_tokenizer, budget)
    assert text.startswith(cut)
    assert len(bpe_tokenizer(cut, add_special_tokens=False).input_ids) <= budget
    if not was_cut:
        assert cut == text


def test_truncate_multibyte_and_budget(bpe_tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "Gewinn stieg 🚀📈 " * 300  # each emoji is several byte-level tokens
    cut, was_cut = truncate_text(text, bpe_tokenizer, 100)
    assert was_cut and text.startswith(cut)
    assert len(bpe_tokenizer(cut, add_special_tokens=False).input_ids) <= 100
    with pytest.raises(ValueError):
        truncate_text("x", bpe_tokenizer, 0)
    assert text_token_budget(bpe_tokenizer, 200, model_max=2048) == 1848
    assert text_token_budget(bpe_tokenizer, 200) == 8192 - 200  # no real limit known: 8192


class CountingTokenizer:
    """Passes calls through to a tokenizer and counts them."""

    def __init__(self, tokenizer) -> None:  # type: ignore[no-untyped-def]
        self.tokenizer, self.calls = tokenizer, 0

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.tokenizer(*args, **kwargs)


def test_truncate_100k_short_items_skip_the_tokenizer(word_tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Texts of no more bytes than the budget cannot exceed it: they are never tokenized."""
    items = [Item(id=str(i), text=f"profit rose {i}") for i in range(100_000)]
    counting = CountingTokenizer(word_tokenizer)
    out, n_cut = truncate_texts(items, counting, 64)
    assert n_cut == 0 and out == items and all(a is b for a, b in zip(out, items, strict=True))
    assert counting.calls == 0
    long_but_fits = Item(id="x", text="profit rose " * 10)  # 120 bytes, 20 tokens
    assert truncate_texts([long_but_fits], counting, 64) == ([long_but_fits], 0) and counting.calls == 1


# -- pathological texts through redaction and fencing ------------------------------------------------


PHONE_RUN = "+" + "1 " * 50_000


# A hang guard for catastrophic regex backtracking, not a speed target (speed is measured in bench/).
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("1 " * 50_000, "1 " * 50_000),  # near-matches that fail validation stay as they are
        ("1-" * 50_000, "1-" * 50_000),
        (PHONE_RUN, "[PHONE_1]" + PHONE_RUN[len("+1 1 1 1 1 1 1") :]),  # one number, then the rest as it was
        ("a@" * 50_000, "a@" * 50_000),
        ("DE89 " * 20_000, "DE89 " * 20_000),
        ("<|" * 50_000 + "</text" * 20_000, "<|" * 50_000 + "</text" * 20_000),
        ("\x00\ud7ff\ufffe" * 10_000, "\x00\ud7ff\ufffe" * 10_000),
    ],
)
def test_redact_and_fence_pathological_texts(text: str, redacted: str) -> None:
    """Long runs of near-matches come back redacted exactly as expected; fencing finds nothing to defuse."""
    assert Redactor().redact(text) == redacted
    assert Redactor().redact(redacted) == redacted
    assert fence_text(text) == text  # no complete tag or control token in any of them


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*"<>/|[]textTEXTINS _sim", "<|im_start|>", "</text>"]), max_size=40).map(
        "".join
    )
)
def test_fence_text_never_leaves_a_tag(text: str) -> None:
    fenced = fence_text(text)
    assert "</text>" not in fenced.lower() and "<text>" not in fenced.lower() and "<|im_start|>" not in fenced
    assert fence_text(fenced) == fenced
