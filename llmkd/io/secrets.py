"""Secret hygiene: keep API keys out of error messages, logs, reports and saved configurations.

Two nets: the values of the known key variables in the environment (whatever their shape), and the
shapes of common keys (``sk-...``, ``sk-ant-...``, ``hf_...``, ``Bearer ...``, ``api_key=...``, and
credentials written into a URL).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
SECRET_ENV_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "AZURE_OPENAI_API_KEY",
    "GOOGLE_API_KEY",
)
SECRET_FIELD = re.compile(r"(?:^|_)(?:api_?key|token|secret|password|passwd|authorization)$", re.IGNORECASE)
KEY_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI / Anthropic (sk-ant-...)
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # Google
    re.compile(r"(?<=Bearer )[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE),
    re.compile(
        r"(?<=[?&])(?:api[_-]?key|key|token|access_token)=[^&\s\"']+", re.IGNORECASE
    ),  # query parameters
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@host
)
MIN_SECRET_CHARS = 8  # shorter environment values (e.g. "EMPTY") are not treated as secrets


def secret_values(extra: Iterable[str] = ()) -> list[str]:
    """The secrets to mask: values of the key variables set in the environment, plus ``extra``."""
    values = [os.environ.get(name, "").strip() for name in SECRET_ENV_VARS]
    values += [v.strip() for v in extra]
    return sorted({v for v in values if len(v) >= MIN_SECRET_CHARS}, key=len, reverse=True)


def scrub_secrets(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every known secret value and every key-shaped string replaced by ``***``."""
    for value in secret_values(extra):
        text = text.replace(value, MASK)
    for shape in KEY_SHAPES:
        if shape.pattern.startswith("(?<=[?&])"):
            text = shape.sub(lambda m: m.group(0).split("=", 1)[0] + "=" + MASK, text)
        else:
            text = shape.sub(MASK, text)
    return text


def scrub_config(data: Any, extra: Iterable[str] = ()) -> Any:
    """A copy of a config (dicts, lists, strings) with secret-named fields masked and strings scrubbed."""
    extras = list(extra)
    if isinstance(data, dict):
        return {
            key: (MASK if data[key] and SECRET_FIELD.search(str(key)) else scrub_config(data[key], extras))
            for key in data
        }
    if isinstance(data, list | tuple):
        return type(data)(scrub_config(v, extras) for v in data)
    if isinstance(data, str):
        return scrub_secrets(data, extras)
    return data
