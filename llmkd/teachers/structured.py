"""Structured answers from remote teachers: the JSON schema, the prompts around it, parsing and re-asks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from llmkd.io.task import Task

SCHEMA_NAME = "label_answer"
TOOL_NAME = "record_label"
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


class AnswerError(ValueError):
    """The teacher's answer is not valid JSON, or names a label outside the task's set."""


@dataclass(frozen=True)
class Answer:
    label: str
    rationale: str | None


def label_schema(labels: list[str], *, rationale: bool) -> dict[str, Any]:
    """JSON schema of an answer: ``label`` (enum of the task's labels, first) and optionally ``rationale``."""
    properties: dict[str, Any] = {"label": {"type": "string", "enum": list(labels)}}
    if rationale:
        properties["rationale"] = {"type": "string"}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def response_format(labels: list[str], *, rationale: bool) -> dict[str, Any]:
    """OpenAI ``response_format`` for strict structured output."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": SCHEMA_NAME,
            "strict": True,
            "schema": label_schema(labels, rationale=rationale),
        },
    }


def label_tool(labels: list[str], *, rationale: bool) -> dict[str, Any]:
    """Anthropic tool whose ``input_schema`` constrains the label (use with a forced ``tool_choice``)."""
    return {
        "name": TOOL_NAME,
        "description": "Record the label of the text (and why).",
        "input_schema": label_schema(labels, rationale=rationale),
    }


def answer_instruction(task: Task, *, rationale: bool) -> str:
    """The sentence appended to the system prompt that asks for the JSON answer."""
    shape = '{"label": "<one of: ' + ", ".join(task.labels) + '>"'
    if rationale:
        shape += ', "rationale": "<' + task.rationale_prompt("the label").replace("\n", " ") + '>"'
    return f"Reply with only a JSON object: {shape}}}. The label comes first."


def answer_json(label: str, rationale: str | None) -> str:
    """An answer as the teacher should write it (used for few-shot turns)."""
    data: dict[str, str] = {"label": label}
    if rationale is not None:
        data["rationale"] = rationale
    return json.dumps(data, ensure_ascii=False)


def chat_messages(task: Task, text: str, *, rationale: bool, few_shot: bool) -> list[dict[str, str]]:
    """System prompt (with the answer instruction), few-shot turns answered in JSON, then the query."""
    system = task.system_prompt() + "\n\n" + answer_instruction(task, rationale=rationale)
    messages = [{"role": "system", "content": system}]
    if few_shot:
        for example in task.spec.few_shot:
            messages.append({"role": "user", "content": task.user_prompt(example.text)})
            reason = (example.rationale or None) if rationale else None
            if rationale and reason is None:
                reason = ""
            messages.append({"role": "assistant", "content": answer_json(example.label, reason)})
    messages.append({"role": "user", "content": task.user_prompt(text)})
    return messages


def match_label(value: object, labels: list[str]) -> str | None:
    """``value`` as one of ``labels`` (exact, else case- and space-insensitive), or None."""
    if not isinstance(value, str):
        return None
    if value in labels:
        return value
    folded = {label.lower(): label for label in labels}
    return folded.get(value.strip().strip("\"'.").lower())


def parse_answer_data(data: object, labels: list[str]) -> Answer:
    """Validate an already-decoded answer object (e.g. an Anthropic tool input)."""
    if not isinstance(data, dict):
        raise AnswerError(f"expected a JSON object, got {type(data).__name__}")
    label = match_label(data.get("label"), labels)
    if label is None:
        raise AnswerError(f"label {data.get('label')!r} is not one of {labels}")
    rationale = data.get("rationale")
    return Answer(label, rationale if isinstance(rationale, str) else None)


def parse_answer(text: str | None, labels: list[str], *, allow_bare: bool = False) -> Answer:
    """Parse a JSON answer (code fences and text around the object tolerated).

    Args:
        text: The message content.
        labels: The task's labels.
        allow_bare: Also accept a bare label (``positive``), for servers without structured output.

    Raises:
        AnswerError: empty, not JSON, or the label is outside the set.
    """
    if not text or not text.strip():
        raise AnswerError("empty answer")
    body = FENCE.sub("", text.strip())
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        start, end = body.find("{"), body.rfind("}")
        if start >= 0 and end > start:
            try:
                data = json.loads(body[start : end + 1])
            except json.JSONDecodeError:
                data = None
        else:
            data = None
        if data is None:
            bare = match_label(body, labels) if allow_bare else None
            if bare is not None:
                return Answer(bare, None)
            raise AnswerError(f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    return parse_answer_data(data, labels)


def reask_message(error: str, labels: list[str], *, rationale: bool) -> str:
    """What to tell the teacher after an unusable answer."""
    fields = '"label"' + (' and "rationale"' if rationale else "")
    return (
        f"Your answer could not be used: {error}. Reply again with only a JSON object with {fields}, "
        f"where label is exactly one of: {', '.join(labels)}."
    )


def augment_lines(text: str, n: int) -> list[str]:
    """The new examples in an augmentation answer: one per line, numbering, bullets and quotes removed."""
    out: list[str] = []
    for line in text.splitlines():
        cleaned = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", line).strip().strip("\"'“”").strip()
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out[:n]
