"""Turn a run's ``report.md`` into a self-contained ``report.html`` (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from llmkd.run.files import atomic_write_text

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_SECTION_MARKER = re.compile(r"^<!-- /?llmkd:[\w-]+ -->[ \t]*\n?", re.MULTILINE)  # report.md's stage sections
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
code, pre { background: #f6f6f6; }
"""


def embed_images(markdown: str, base: Path) -> str:
    """Replace ``![alt](file.png)`` of files under ``base`` by ``data:`` URIs; others stay as they are."""

    def inline(match: re.Match[str]) -> str:
        alt, target = match.group(1), match.group(2)
        path = base / target
        if target.startswith(("data:", "http:", "https:")) or not path.is_file():
            return match.group(0)
        mime = "image/png" if path.suffix.lower() == ".png" else "image/" + path.suffix.lower().lstrip(".")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"![{alt}](data:{mime};base64,{data})"

    return _IMAGE.sub(inline, markdown)


def markdown_to_html(markdown: str) -> str:
    """Markdown (with tables) to an HTML fragment via markdown-it-py; escaped ``<pre>`` without it."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover - markdown-it-py ships with rich, a transformers dependency
        return f"<pre>{html.escape(markdown)}</pre>"
    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown))


def write_report_html(run_dir: str | Path, title: str = "llmkd report") -> Path:
    """Write ``run_dir/report.html`` from ``run_dir/report.md``; returns its path."""
    run_dir = Path(run_dir)
    markdown = _SECTION_MARKER.sub("", (run_dir / "report.md").read_text(encoding="utf-8"))
    body = markdown_to_html(embed_images(markdown, run_dir))
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    )
    path = run_dir / "report.html"
    atomic_write_text(path, page)
    return path
