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
