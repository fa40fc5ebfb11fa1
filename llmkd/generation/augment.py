"""``--augment N``: the teacher writes N new examples per label, which are then labelled like any input.

Each augmentation call is cached in the run ledger (``kind="augment"``, keyed by teacher, model,
prompt, label, N and round), so a rerun pays for nothing twice. New texts are exact-deduplicated, after
:func:`normalise_text`, against the input and against each other; when duplicates leave a label short
of N, another round is asked (at most ``max_rounds``). Augmented items get the id ``aug-<hash>``, no gold
label, and ``source="augmented"``.

Remote teachers write examples through their own ``augment(label, n)``; local transformers teachers
through :func:`local_augment` (sampled generation, one example per sequence).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from llmkd.errors import ConfigError
from llmkd.io.records import Item, TeacherOutput
from llmkd.io.task import Task
from llmkd.run.ledger import RunLedger, request_key
from llmkd.teachers import Teacher
from llmkd.teachers.capabilities import AugmentingTeacher, LocalModelTeacher
from llmkd.teachers.structured import augment_lines

_SPACE = re.compile(r"\s+")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")


def normalise_text(text: str) -> str:
    """The form two texts are compared in: NFKC, case-folded, whitespace collapsed, edge punctuation cut."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return _EDGE.sub("", text)


def augment_id(text: str) -> str:
    """Stable id of an augmented text: ``aug-`` and a hash of its normalised form."""
    return "aug-" + hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:16]


def augment_request(
    teacher: Teacher, task: Task, label: str, n: int, round_: int
) -> tuple[str, dict[str, Any]]:
    """Ledger key and stored request of one augmentation call."""
    prompt = task.augment_prompt(label, n)
    params = {"kind": "augment", "label": label, "n": n, "round": round_}
    key = request_key(teacher.name, teacher.model, prompt, params, 0)
    return key, {"model": teacher.model, "prompt": prompt, "params": params}


def local_augment(
    teacher: LocalModelTeacher,
    label: str,
    n: int,
    *,
    seed: int = 0,
    max_new_tokens: int = 48,
    chunk: int = 16,
    on_written: Callable[[int], None] | None = None,
) -> TeacherOutput:
    """``n`` sampled examples of ``label`` from a local causal LM (``teacher.lm``, ``teacher.tokenizer``).

    Each of ``n`` sequences is sampled (temperature 1, top-p 0.95) from the chat-rendered augmentation
    prompt for one example, and its first non-empty line kept. Sequences are sampled ``chunk`` at a time
    (``on_written`` gets the count after each chunk); the RNG is seeded with ``seed`` (the round) without
    disturbing the global one.
    """
    import torch

    tokenizer, lm = teacher.tokenizer, teacher.lm
    messages = [{"role": "user", "content": teacher.task.augment_prompt(label, 1)}]
    prompt = str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(lm.device)
    examples: list[str] = []
    completion = 0
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            out = lm.generate(
                **enc,
                do_sample=True,
                temperature=1.0,
                top_p=0.95,
                max_new_tokens=max_new_tokens,
                num_return_sequences=size,
                pad_token_id=tokenizer.pad_token_id,
            )
            for row in out[:, enc.input_ids.shape[1] :]:
                tokens = row[row != tokenizer.pad_token_id]
                completion += len(tokens)
                lines = augment_lines(str(tokenizer.decode(tokens, skip_special_tokens=True)), 1)
                if lines:
                    examples.append(lines[0])
            if on_written is not None:
                on_written(size)
    return TeacherOutput(
        label=label,
        probs=None,
        rationale=None,
        raw="\n".join(examples),
        prompt_tokens=int(enc.input_ids.shape[1]) * n,
        completion_tokens=completion,
        extra={"examples": examples, "n": n, "seed": seed},
    )


def _write(teacher: Teacher, label: str, n: int, round_: int, local_tokens: int, bar: tqdm) -> TeacherOutput:
    if isinstance(teacher, AugmentingTeacher):
        output = teacher.augment(label, n)
        bar.update(n)
        return output
    if isinstance(teacher, LocalModelTeacher):  # loads the model (used at once)
        return local_augment(
            teacher, label, n, seed=round_, max_new_tokens=local_tokens, on_written=bar.update
        )
    raise ConfigError(f"--augment: teacher {teacher.name!r} cannot write examples")


def _stored_or_written(
    teacher: Teacher,
    task: Task,
    label: str,
    n: int,
    round_: int,
    ledger: RunLedger,
    counts: dict[str, float],
    bar: tqdm,
    local_tokens: int,
) -> TeacherOutput:
    """The ledger's answer to one augmentation call, else a new one, stored at once."""
    key, request = augment_request(teacher, task, label, n, round_)
    output = ledger.get(key)
    if output is not None:
        counts["cached"] += 1
        bar.update(n)
        return output
    output = _write(teacher, label, n, round_, local_tokens, bar)
    ledger.put(
        key,
        teacher=teacher.name,
        model=teacher.model,
        item_id=f"augment:{label}:{round_}",
        sample=0,
        kind="augment",
        request=request,
        output=output,
    )
    counts["calls"] += 1
    counts["cost_usd"] += output.cost_usd
    return output


def augment_items(
    teacher: Teacher,
    task: Task,
    items: Sequence[Item],
    n: int,
    ledger: RunLedger,
    *,
    max_rounds: int = 3,
    local_max_new_tokens: int = 48,
    progress: bool = True,
) -> tuple[list[Item], dict[str, float]]:
    """Up to ``n`` new, deduplicated items per label written by ``teacher``.

    Args:
        max_rounds: Calls per label at most (later rounds only when duplicates left it short).
        local_max_new_tokens: Length of each sampled example for local teachers.
        progress: Show a tqdm bar of the examples asked for.

    Returns:
        The new items (label order, then the teacher's order), and counts: ``calls`` sent,
        ``cached`` calls, ``duplicates`` dropped, ``cost_usd`` of the calls sent.

    Raises:
        BudgetExceeded: the teacher's budget stopped a call (the ones already made stay cached).
    """
    seen = {normalise_text(item.text) for item in items}
    new: list[Item] = []
    counts = {"calls": 0.0, "cached": 0.0, "duplicates": 0.0, "cost_usd": 0.0}
    bar = tqdm(
        total=n * len(task.labels), desc=f"{teacher.name}: augment", unit="example", disable=not progress
    )
    for label in task.labels:
        got = 0
        for round_ in range(max_rounds):
            if got >= n:
                break
            if round_:  # another round for the duplicates: the bar grows by what it asks for
                bar.total += n
            output = _stored_or_written(
                teacher, task, label, n, round_, ledger, counts, bar, local_max_new_tokens
            )
            for text in output.extra.get("examples") or []:
                norm = normalise_text(text)
                if not norm or norm in seen:
                    counts["duplicates"] += 1
                    continue
                if got >= n:
                    break
                seen.add(norm)
                new.append(Item(id=augment_id(text), text=text, source="augmented"))
                got += 1
    bar.close()
    return new, counts


def augment_with(teacher: Teacher, task: Task, items: list[Item], n: int, ledger: RunLedger) -> list[Item]:
    """:func:`augment_items` for generate's ``--augment N``, with a one-line report of what it did."""
    new, counts = augment_items(teacher, task, items, n, ledger)
    print(
        f"{teacher.name}: augmented {len(new)} items ({int(counts['calls'])} calls, {int(counts['cached'])} "
        f"cached, {int(counts['duplicates'])} duplicates dropped, ${counts['cost_usd']:.4f})"
    )
    return new
