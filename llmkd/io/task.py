"""Task definitions: label set, definitions, prompt templates and few-shot examples, loaded from YAML."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmkd.errors import TaskError
from llmkd.io.paths import prompts_dir
from llmkd.io.text_limits import fence_text

# what each template is filled with besides {label_definitions} and {label_list}
FIELD_PLACEHOLDERS: dict[str, dict[str, Any]] = {
    "system": {},
    "user_template": {"text": "t"},
    "rationale_instruction": {"label": "l"},
    "augment_instruction": {"label": "l", "n": 1},
}


class FewShotExample(BaseModel):
    """A worked example shown to the teacher."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    label: str
    rationale: str = ""


class TaskSpec(BaseModel):
    """Schema of a task YAML file (see prompts/README.md)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    description: str = ""
    labels: dict[str, str] = Field(description="Ordered mapping label -> definition.")
    system: str = Field(min_length=1)
    user_template: str = Field(min_length=1)
    rationale_instruction: str = ""
    augment_instruction: str = ""
    few_shot: list[FewShotExample] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, labels: dict[str, str]) -> dict[str, str]:
        if len(labels) < 2:
            raise ValueError("a task needs at least two labels")
        for label in labels:
            if not label or label != label.strip() or any(c.isspace() for c in label):
                raise ValueError(f"label {label!r} must be a non-empty word without spaces")
        return labels

    @field_validator("user_template")
    @classmethod
    def _has_text(cls, template: str) -> str:
        if "{text}" not in template:
            raise ValueError("must contain the {text} placeholder")
        return template

    @model_validator(mode="after")
    def _few_shot_labels_known(self) -> TaskSpec:
        for i, example in enumerate(self.few_shot):
            if example.label not in self.labels:
                raise ValueError(f"few_shot[{i}].label {example.label!r} is not one of {list(self.labels)}")
        return self


@dataclass(frozen=True)
class Task:
    """A loaded, validated task. Templates are rendered with :meth:`messages`."""

    spec: TaskSpec
    path: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def labels(self) -> list[str]:
        return list(self.spec.labels)

    def _fill(self, template: str, **values: Any) -> str:
        definitions = "\n".join(f"- {k}: {v}" for k, v in self.spec.labels.items())
        return template.format(
            label_definitions=definitions, label_list=", ".join(self.labels), **values
        ).strip()

    def system_prompt(self) -> str:
        return self._fill(self.spec.system)

    def user_prompt(self, text: str) -> str:
        return self._fill(self.spec.user_template, text=fence_text(text))

    def rationale_prompt(self, label: str) -> str:
        return self._fill(self.spec.rationale_instruction or "Explain why in one sentence.", label=label)

    def augment_prompt(self, label: str, n: int) -> str:
        return self._fill(self.spec.augment_instruction, label=label, n=n)

    def messages(self, text: str, *, few_shot: bool = True) -> list[dict[str, str]]:
        """Chat messages asking for the label of ``text`` (system, few-shot turns, the query)."""
        msgs = [{"role": "system", "content": self.system_prompt()}]
        if few_shot:
            for example in self.spec.few_shot:
                msgs.append({"role": "user", "content": self.user_prompt(example.text)})
                msgs.append({"role": "assistant", "content": example.label})
        msgs.append({"role": "user", "content": self.user_prompt(text)})
        return msgs


def _field_of(error: Any) -> str:
    return ".".join(str(p) for p in error["loc"]).encode("unicode_escape").decode() or "<root>"


def _plain_placeholders(template: str) -> None:
    """Reject ``{text.attr}`` / ``{text[i]}``: a template may only name the placeholders themselves."""
    for _, name, _, _ in string.Formatter().parse(template):
        if name and not name.isidentifier():
            raise ValueError(repr("{" + name + "}"))


def resolve_task_path(name_or_path: str) -> Path:
    """``fin-sentiment`` -> ``prompts/fin-sentiment.yaml``; a path is taken as it is."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        return candidate
    return prompts_dir() / f"{name_or_path}.yaml"


def load_task(name_or_path: str | Path) -> Task:
    """Load and validate a task by name or path.

    Raises:
        TaskError: the file is missing, not YAML, or a field is wrong (the message names the field).
    """
    path = resolve_task_path(str(name_or_path))
    if not path.is_file():
        known = sorted(p.stem for p in prompts_dir().glob("*.yaml"))
        raise TaskError(f"no such task file (known tasks: {', '.join(known)})", path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        raise TaskError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None
    except RecursionError:
        raise TaskError("not valid YAML: nested too deeply", path) from None
    if not isinstance(raw, dict):
        raise TaskError("must be a YAML mapping of fields", path)
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TaskError(first["msg"], path, _field_of(first), _line_of(text, first["loc"])) from None
    task = Task(spec=spec, path=path)
    for field_name, values in FIELD_PLACEHOLDERS.items():
        try:
            _plain_placeholders(getattr(spec, field_name))
            task._fill(getattr(spec, field_name), **values)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            allowed = sorted({"label_definitions", "label_list", *values})
            raise TaskError(
                f"bad placeholder {exc} (allowed here: {allowed}; write literal braces as {{{{ }}}})",
                path,
                field_name,
                _line_of(text, (field_name,)),
            ) from None
    return task


def _yaml_error(exc: yaml.YAMLError, path: Path) -> TaskError:
    """``path:LINE: not valid YAML: PROBLEM (column C)`` from the parser's mark."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return TaskError(f"not valid YAML: {problem}", path)
    return TaskError(f"not valid YAML: {problem} (column {mark.column + 1})", path, line=mark.line + 1)


def _line_of(text: str, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (keys and list indices), or of its nearest parent
    that exists; None for the document itself."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == str(part)]
            if not found:
                break
            line, node = found[0][0].start_mark.line + 1, found[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
