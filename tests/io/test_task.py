"""Task files: the shipped tasks load; malformed ones name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmkd.errors import TaskError
from llmkd.io.paths import prompts_dir
from llmkd.io.task import load_task


def test_shipped_tasks_load() -> None:
    sentiment = load_task("fin-sentiment")
    assert sentiment.labels == ["positive", "negative", "neutral"]
    policy = load_task("monetary-policy")
    assert set(policy.labels) == {"hawkish", "dovish", "neutral"}
    msgs = sentiment.messages("Profit rose 5%.")
    assert msgs[0]["role"] == "system" and "negative" in msgs[0]["content"]
    assert msgs[-1] == {"role": "user", "content": sentiment.user_prompt("Profit rose 5%.")}
    assert "Profit rose 5%." in msgs[-1]["content"]
    # Few-shot turns alternate user/assistant and answer with a label.
    shots = msgs[1:-1]
    assert len(shots) == 2 * len(sentiment.spec.few_shot) > 0
    assert all(m["content"] in sentiment.labels for m in shots[1::2])
    assert len(sentiment.messages("x", few_shot=False)) == 2


def test_task_by_path() -> None:
    path = prompts_dir() / "monetary-policy.yaml"
    assert load_task(str(path)).name == "monetary-policy"


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _valid() -> dict:
    return {
        "name": "bad",
        "labels": {"up": "goes up", "down": "goes down"},
        "system": "Labels: {label_list}",
        "user_template": "<text>{text}</text>",
        "few_shot": [{"text": "rose", "label": "up"}],
    }


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("labels"), "labels"),
        (lambda d: d.update(labels={"only": "one"}), "labels"),
        (lambda d: d.update(user_template="no placeholder"), "user_template"),
        (lambda d: d.update(system="{unknown}"), "system"),
        (lambda d: d.update(system="Classify {text}"), "system"),  # {text} fills user_template only
        (lambda d: d.update(user_template="<text>{text}</text> as {label}"), "user_template"),
        (lambda d: d.update(rationale_instruction="Why {text}?"), "rationale_instruction"),
        (lambda d: d["few_shot"].append({"text": "x", "label": "sideways"}), "<root>"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["few_shot"].append({"label": "up"}), "few_shot.1.text"),
    ],
)
def test_malformed_task_names_file_and_field(tmp_path: Path, mutate, field: str) -> None:
    data = _valid()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(TaskError) as err:
        load_task(str(path))
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_not_yaml_and_missing(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="not valid YAML"):
        load_task(str(_write(tmp_path, "labels: [unclosed")))
    with pytest.raises(TaskError, match=r"known tasks: .*fin-sentiment"):
        load_task("no-such-task")


def test_yaml_error_names_line_and_column(tmp_path: Path) -> None:
    text = 'name: bad\nlabels:\n  up: goes up\n  down: "goes down\nsystem: x\n'  # unclosed quote
    with pytest.raises(TaskError) as err:
        load_task(str(_write(tmp_path, "name: bad\nlabels: {up: a, down: b]\nsystem: x\n")))
    assert str(err.value).startswith(f"{tmp_path / 'bad.yaml'}:2: not valid YAML: ")
    assert "(column 24)" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(TaskError) as err:
        load_task(str(_write(tmp_path, text)))
    assert str(err.value).startswith(f"{tmp_path / 'bad.yaml'}:") and "not valid YAML" in str(err.value)
    assert err.value.line is not None and err.value.line >= 4


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: bad\nlabels: {up: a}\nsystem: x\nuser_template: '{text}'\n", ":2: field 'labels': "),
        (
            "name: bad\nlabels: {up: a, down: b}\nsystem: x\nuser_template: '{text}'\nfew_shot:\n"
            "  - text: rose\n    label: up\n  - label: down\n",
            ":8: field 'few_shot.1.text': ",
        ),
        (
            "name: bad\nlabels: {up: a, down: b}\nsystem: '{nope}'\nuser_template: '{text}'\n",
            ":3: field 'system': ",
        ),
    ],
)
def test_bad_field_names_file_line_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TaskError) as err:
        load_task(str(path))
    assert str(err.value).startswith(f"{path}{where}")
