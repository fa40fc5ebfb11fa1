"""The evaluate stage's tables: the teacher-vs-student summary and the Evaluate section of report.md."""

from __future__ import annotations

from typing import Any

from llmkd.evaluation.cost import combined_teachers
from llmkd.evaluation.learning_curve import learning_curve_markdown
from llmkd.evaluation.predictions import misclassified_markdown, reliability_markdown
from llmkd.evaluation.selective import selective_markdown


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _usd(value: float | None) -> str | None:
    if value is None:
        return None
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}"


def summary_table(result: dict[str, Any]) -> str:
    """Markdown table: teacher vs student on the gold set, with speed, size and cost."""
    s = result["student"] or {}
    t = result["teacher"] or {}
    agreement = result["agreement"] or {}
    together = combined_teachers(result.get("teacher_speed") or {})  # an ensemble runs all its teachers
    cost = result.get("cost") or {}
    api = cost.get("api_teachers") or {}
    api_cost = sum(e["usd_per_1000"] or 0.0 for e in api.values()) if api else None
    local = cost.get("local_teachers_usd_per_1000") or {}
    parts = [c for c in (api_cost, sum(local.values()) if local else None) if c is not None]
    teacher_cost = sum(parts) if parts else None
    teacher_name = "teacher" + (f" ({', '.join(t['teachers'])})" if t.get("teachers") else "")
    student_name = "student" + (f" ({s['kind']})" if s.get("kind") else "")
    params = together.get("parameters")
    rows = [
        ("gold items scored", t.get("n"), s.get("n")),
        ("accuracy", t.get("accuracy"), s.get("accuracy")),
        ("macro F1", t.get("macro_f1"), s.get("macro_f1")),
        ("weighted F1", t.get("weighted_f1"), s.get("weighted_f1")),
        ("ECE (lower is better)", t.get("ece"), s.get("ece")),
        ("agreement with teacher", None, agreement.get("rate")),
        (
            "throughput on this machine (items/s)",
            _fmt(together.get("throughput_items_per_s"), 1) if together else None,
            _fmt(s.get("throughput_items_per_s"), 1) if s else None,
        ),
        (
            "latency (ms/item, batched)",
            _fmt(together.get("latency_ms_per_item"), 2) if together else None,
            _fmt(s.get("latency_ms_per_item"), 2) if s else None,
        ),
        (
            "parameters",
            f"{params / 1e6:.1f} M" if params else None,
            f"{s['parameters'] / 1e6:.1f} M ({s['size_mb']:.1f} MB)" if s else None,
        ),
        ("cost per 1,000 items", _usd(teacher_cost), _usd(cost.get("student_usd_per_1000"))),
    ]
    lines = [f"| metric | {teacher_name} | {student_name} |", "|---|---|---|"]
    lines += [f"| {name} | {_fmt(a)} | {_fmt(b)} |" for name, a, b in rows]
    return "\n".join(lines)


def speed_and_cost_lines(result: dict[str, Any]) -> list[str]:
    """Report lines on teacher speed, the speed-up and how cost per 1,000 items was computed."""
    lines: list[str] = []
    for name, t in (result.get("teacher_speed") or {}).items():
        rationales = "" if t.get("rationale") is None else f", rationales {'on' if t['rationale'] else 'off'}"
        lines.append(
            f"Local teacher `{name}`: {t['throughput_items_per_s']:.2f} items/s on {t['device']} "
            f"(timed on {t['items']} gold texts, batch {t['batch_size']}{rationales})."
        )
    if result.get("speedup_vs_local_teacher"):
        several = len(result.get("teacher_speed") or {}) > 1
        whose = "the local teachers' (all of them per item)" if several else "the local teacher's"
        lines.append(f"The student is {result['speedup_vs_local_teacher']:.0f}x {whose} throughput.")
    cost = result.get("cost") or {}
    if cost:
        lines.append(
            f"Cost per 1,000 items: CPU models at an assumed ${cost['cpu_usd_per_hour']:.2f} per machine-hour "
            "(`--cpu-usd-per-hour`) times the measured seconds per item"
            + (
                "; API teachers from the ledger's dollars over the items they labelled: "
                + ", ".join(
                    f"`{n}` ${e['usd']:.4f} for {e['items']} items" for n, e in cost["api_teachers"].items()
                )
                if cost.get("api_teachers")
                else ""
            )
            + "."
        )
    return [*lines, ""] if lines else []


def report_markdown(result: dict[str, Any], table: str) -> str:
    """The ``## Evaluate`` section of report.md: summary table, per-class scores, notes and figures."""
    parts = [
        f"## Evaluate: {result['task']}",
        "",
        f"Gold set: `{result['gold_file']}` ({result['n_gold']} items; "
        f"labels: {', '.join(result['labels'])}).",
        "",
        table,
        "",
    ]
    parts += seed_comparison(result)
    if result["agreement"]:
        parts += [
            f"Student and teacher agree on {result['agreement']['rate']:.1%} of the "
            f"{result['agreement']['n']} gold texts both labelled.",
            "",
        ]
    by_teacher = (result["teacher"] or {}).get("by_teacher") or {}
    if by_teacher:
        parts += [
            "### Each teacher of the ensemble",
            "",
            "| teacher | items | accuracy | macro F1 | weighted F1 |",
            "|---|---|---|---|---|",
            *[
                f"| `{name}` | {t['n']} | {t['accuracy']:.3f} | {t['macro_f1']:.3f} | {t['weighted_f1']:.3f} |"
                for name, t in by_teacher.items()
            ],
            "",
        ]
    for name in ("student", "teacher"):
        parts += per_class_markdown(name, result[name])
    if result["student"]:
        s = result["student"]
        parts += [
            f"Student speed: {s['throughput_items_per_s']:.1f} items/s on {s['device']} "
            f"(batch {s['batch_size']}, {s['latency_ms_per_item']:.2f} ms per item amortised).",
            "",
        ]
    parts += learning_curve_markdown(result.get("learning_curve"))
    parts += misclassified_markdown(result.get("misclassified"), result["n_gold"])
    curves = {name: (result[name] or {}).get("reliability") or [] for name in ("student", "teacher")}
    parts += reliability_markdown(curves)
    parts += speed_and_cost_lines(result)
    parts += selective_markdown(result.get("selective"))
    if result["notes"]:
        parts += ["### Notes", "", *[f"- {note}" for note in result["notes"]], ""]
    if result["figures"]:
        parts += ["### Figures", "", *[f"![{name}]({name})" for name in result["figures"]], ""]
    return "\n".join(parts)


def per_class_markdown(name: str, scored: dict[str, Any] | None) -> list[str]:
    """Precision, recall, F1 and support per label of ``name`` (nothing when it was not scored)."""
    if not scored:
        return []
    rows = [
        f"| {label} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
        for label, r in scored["per_class"].items()
    ]
    header = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    return [f"### {name.capitalize()} per class", "", *header, *rows, ""]


def seed_comparison(result: dict[str, Any]) -> list[str]:
    """Teacher, seed-only student and distilled student side by side (when the run has a gold seed)."""
    seed_only = result.get("seed_only_student")
    if not seed_only:
        return []
    columns = [
        ("teacher", result["teacher"]),
        ("seed-only student", seed_only),
        ("distilled student", result["student"]),
    ]
    rows = [
        f"| {name} | {_fmt((m or {}).get('accuracy'))} | {_fmt((m or {}).get('macro_f1'))} |"
        for name, m in columns
    ]
    return [
        "### With the gold seed: teacher, seed-only student, distilled student",
        "",
        "| model | accuracy | macro F1 |",
        "|---|---|---|",
        *rows,
        "",
    ]
