"""report.md to a self-contained report.html (llmkd/reporting/html.py)."""

from __future__ import annotations

import base64

from llmkd.reporting.html import embed_images

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_embed_images_only_local_files(tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_MAGIC + b"x")
    out = embed_images("![a](a.png) ![b](missing.png) ![c](https://x/c.png)", tmp_path)
    encoded = base64.b64encode(PNG_MAGIC + b"x").decode()
    assert f"![a](data:image/png;base64,{encoded})" in out
    assert "![b](missing.png)" in out and "https://x/c.png" in out


def test_report_html_hides_the_section_markers(tmp_path):
    from llmkd.reporting.html import write_report_html
    from llmkd.run.files import update_report_section

    update_report_section(tmp_path, "filter", "## Filter\n\nKept **3** of 4 records.")
    update_report_section(tmp_path, "evaluate", "## Evaluate\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<!-- llmkd:filter -->" in (tmp_path / "report.md").read_text()
    page = write_report_html(tmp_path).read_text()
    assert "llmkd:filter" not in page and "llmkd:evaluate" not in page and "&lt;!--" not in page
    assert "<h2>Filter</h2>" in page and "<td>1</td>" in page
