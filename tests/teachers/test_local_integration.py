"""The embedded SmolLM2 teacher labels and rationalises real text."""

from __future__ import annotations

import pytest

from llmkd.io.records import Item
from llmkd.io.task import load_task
from llmkd.teachers import TeacherOptions, build_teacher
from llmkd.teachers.base import TeacherRequest

pytestmark = pytest.mark.integration


def test_embedded_teacher_labels_and_rationalises() -> None:
    task = load_task("fin-sentiment")
    teacher = build_teacher("local", task, TeacherOptions(rationale=True, max_new_tokens=24, batch_size=4))
    assert teacher.name == "local:smollm2-135m-instruct"
    texts = [
        "Kestrel Logistics cut its full-year outlook and will close two depots.",
        "Altamira Foods raised its dividend by 20% after record quarterly profit.",
        "The annual general meeting will be held in Oslo on 14 April.",
        "Norvik Paper won a EUR 40 million supply contract.",
        "Revenue fell 12% as demand weakened.",
    ]
    seen = []
    outputs = teacher.label(
        [TeacherRequest(Item(id=str(i), text=t)) for i, t in enumerate(texts)],
        on_result=lambda req, out: seen.append(req.item.id),
    )
    assert seen == [str(i) for i in range(len(texts))]
    for out in outputs:
        assert out.status == "ok" and out.prob_method == "label-scoring"
        assert out.label in task.labels and out.probs is not None
        assert abs(sum(out.probs.values()) - 1) < 1e-4
        assert out.label == max(out.probs, key=lambda k: out.probs[k])
        assert out.rationale and out.completion_tokens > 0 and out.prompt_tokens > 100
    # Scores do not depend on the batch an item sits in.
    single = teacher.label([TeacherRequest(Item(id="x", text=texts[1]))])[0]
    assert single.probs is not None and outputs[1].probs is not None
    for lab in task.labels:
        assert abs(single.probs[lab] - outputs[1].probs[lab]) < 1e-3
