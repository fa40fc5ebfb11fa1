"""API keys never land in run artifacts, captured output or error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from llmkd.errors import TeacherError
from llmkd.io.secrets import MASK, scrub_config, scrub_secrets
from tests.servers import Faults
from tests.servers.openai_server import OpenAIServer, error_body

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-SECRET-4f9c2b7e1d0a8c6b5e3f"


class KeyServer(OpenAIServer):
    """Records the Authorization header; with ``reject`` answers 401 echoing the key (a careless proxy)."""

    def __init__(self, *args, reject: bool = False, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.reject = reject
        self.auth: list[str] = []

    async def chat(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization", ""))
        if self.reject:
            key = self.auth[-1].removeprefix("Bearer ")
            return web.json_response(
                error_body(f"Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key"),
                status=401,
            )
        return await super().chat(request)


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("text,label\nProfit rose 5%.,positive\nSales fell.,negative\nAGM on 3 May.,neutral\n")
    return path


def _hits(root: Path, needle: str) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_scrub_secrets_env_values_and_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plain-looking-secret-123")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "EMPTY")  # too short to be a secret
    text = (
        "key plain-looking-secret-123; sk-ant-api03-abcdefghijklmnop; hf_abcdefghijklmnopqrstuvwxyz; "
        "Authorization: Bearer abc.def.ghi-123456; https://u:p4ssw0rd@host/v1?api_key=zzz123&x=1; EMPTY"
    )
    out = scrub_secrets(text, extra=["custom-token-value"])
    for secret in ("plain-looking-secret-123", "sk-ant-api03", "hf_abc", "abc.def.ghi", "p4ssw0rd", "zzz123"):
        assert secret not in out
    assert "EMPTY" in out and "x=1" in out and out.count(MASK) >= 6
    assert scrub_secrets("Profit rose 5% to EUR 3 million.") == "Profit rose 5% to EUR 3 million."


def test_scrub_config_masks_secret_fields_and_url_credentials() -> None:
    config = {
        "api_key": "anything",
        "hf_token": "x" * 10,
        "max_new_tokens": 64,
        "base_url": "https://admin:hunter22@gw.local/v1",
        "teacher": ["gpt-4o", f"openai-compatible:m?key={KEY}"],
        "token": None,
    }
    out = scrub_config(config)
    assert out["api_key"] == MASK and out["hf_token"] == MASK and out["max_new_tokens"] == 64
    assert "hunter22" not in out["base_url"] and KEY not in json.dumps(out) and out["token"] is None


def test_generate_artifacts_and_output_never_hold_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from llmkd.generate import main

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    run = tmp_path / "run"
    with KeyServer(Faults(rate_500=0.3, rate_malformed=0.2, seed=1)) as server:
        argv = ["--input", str(_input(tmp_path)), "--label-column", "label", "--run", str(run)]
        argv += ["--teacher", "openai:gpt-4o-mini", "--base-url", server.url, "--max-attempts", "4"]
        assert main(argv) == 0
    assert server.auth and all(a == f"Bearer {KEY}" for a in server.auth)  # the key was really used
    out, err = capfd.readouterr()
    assert KEY not in out and KEY not in err
    assert (run / "labels.jsonl").is_file() and (run / "ledger.sqlite").is_file()
    assert _hits(run, KEY) == [] and _hits(run, KEY[8:]) == []


def test_failing_request_401_error_hides_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 401 that echoes the key: the TeacherError (llmkd.teachers.retry.describe) and the run omit it."""
    from llmkd.generate import main

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    run = tmp_path / "run"
    with KeyServer(reject=True) as server:
        argv = ["--input", str(_input(tmp_path)), "--run", str(run), "--teacher", "openai:gpt-4o-mini"]
        with pytest.raises(TeacherError) as err:
            main([*argv, "--base-url", server.url])
    assert "401" in str(err.value) and KEY not in str(err.value)
    assert _hits(run, KEY) == []


def test_cli_401_error_hides_the_key(tmp_path: Path) -> None:
    """The same through the CLI: the one-line error on stderr (llmkd.cli.run_cli) omits the key."""
    with KeyServer(reject=True) as server:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "llmkd.generate",
                "--input",
                str(_input(tmp_path)),
                "--run",
                str(tmp_path / "run"),
                "--teacher",
                "openai:gpt-4o-mini",
                "--base-url",
                server.url,
            ],
            cwd=ROOT,
            env={"OPENAI_API_KEY": KEY, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert "401" in proc.stderr and KEY not in proc.stderr + proc.stdout
    assert _hits(tmp_path / "run", KEY) == []


def test_cli_saved_config_masks_url_credentials(tmp_path: Path) -> None:
    """save_config masks a password and an api_key query parameter in a saved --base-url."""
    from llmkd.generate import GenerateConfig
    from llmkd.run.files import save_config

    config = GenerateConfig(input="x.csv", base_url="https://svc:hunter22pass@gw.internal/v1?api_key=" + KEY)
    saved = save_config(tmp_path, "generate", config).read_text()
    assert "hunter22pass" not in saved and KEY not in saved and "gw.internal" in saved
