"""--privacy local-only: remote teachers on public addresses are refused in one line, before any request.

Function-level tests call llmkd.privacy.policy; ``test_cli_*`` run ``generate --privacy local-only``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llmkd.errors import ConfigError, TeacherError
from llmkd.io.records import Item
from llmkd.io.task import load_task
from llmkd.privacy.policy import check_privacy, is_local_url, resolve_privacy, teacher_is_local
from llmkd.teachers import TeacherOptions, build_teacher
from llmkd.teachers.base import TeacherRequest
from tests.servers import Faults
from tests.servers.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
CMD = [sys.executable, "-m", "llmkd.generate"]

LOCAL_URLS = [
    "http://127.0.0.1:8000/v1",
    "http://127.9.9.9/v1",
    "http://10.20.30.40:8000/v1",
    "http://192.168.1.5:11434/v1",
    "http://172.16.0.7/v1",
    "http://localhost:8000/v1",
    "https://LOCALHOST/v1",
    "http://[::1]:8000/v1",
    "http://[fd12:3456::1]/v1",
    "http://[::ffff:127.0.0.1]:80/v1",
    "unix:///run/vllm.sock",
    "http+unix://%2Frun%2Fvllm.sock/v1",
]
PUBLIC_URLS = [
    "https://api.openai.com/v1",
    "https://api.anthropic.com",
    "http://8.8.8.8/v1",
    "http://100.64.0.1/v1",  # carrier-grade NAT is not this network
    "http://0.0.0.0:8000/v1",
    "http://localhost.evil.example/v1",
    "http://127.0.0.1.nip.io/v1",
    "http://10.0.0.1@evil.example/v1",  # user-info trick: the host is evil.example
    "http://127.1:8000/v1",  # inet_aton shorthand: not provably local, refused
    "http://0x7f000001/v1",
    "ftp://127.0.0.1/v1",
    "",
    "not a url",
]


@pytest.mark.parametrize("url", LOCAL_URLS)
def test_local_urls_accepted(url: str) -> None:
    assert is_local_url(url)
    check_privacy(["vllm:m", "ollama:m", "openai-compatible:m", "gpt-4o"], url, "local-only")


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_urls_refused(url: str) -> None:
    assert not is_local_url(url)
    with pytest.raises(TeacherError) as err:
        check_privacy("vllm:m", url or None, "local-only")
    message = str(err.value)
    assert "\n" not in message and "--privacy local-only refuses teacher 'vllm:m'" in message


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:gpt-4o-mini", "claude-3-5-haiku-latest", "anthropic:m"])
def test_public_providers_refused(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LLMKD_PRIVACY"):
        monkeypatch.delenv(var, raising=False)
    assert not teacher_is_local(spec, None)
    with pytest.raises(TeacherError, match="public API"):
        check_privacy(["local", spec], None, "local-only")
    check_privacy(spec, None, "off")  # off allows anything


def test_local_teachers_and_env_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    check_privacy(["local", "hf:/models/llama", "hf:HuggingFaceTB/SmolLM2-135M-Instruct"], None, "local-only")
    with pytest.raises(TeacherError):
        check_privacy("vllm:m", None, "local-only")  # no address at all
    monkeypatch.setenv("OPENAI_BASE_URL", "http://192.168.0.9:8000/v1")
    check_privacy("vllm:m", None, "local-only")
    with pytest.raises(TeacherError):  # the flag wins over the environment
        check_privacy("vllm:m", "https://api.together.xyz/v1", "local-only")


def test_env_floor_cannot_be_loosened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMKD_PRIVACY", "local-only")
    assert resolve_privacy("off") == "local-only" and resolve_privacy(None) == "local-only"
    with pytest.raises(TeacherError):
        check_privacy("gpt-4o", None, "off")
    monkeypatch.setenv("LLMKD_PRIVACY", "paranoid")
    with pytest.raises(ConfigError, match="LLMKD_PRIVACY"):
        resolve_privacy("off")
    monkeypatch.delenv("LLMKD_PRIVACY")
    with pytest.raises(ConfigError, match="--privacy"):
        check_privacy("local", None, "strict")


def test_error_hides_credentials_in_base_url() -> None:
    with pytest.raises(TeacherError) as err:
        check_privacy(
            "vllm:m", "https://user:hunter2secret@api.example.com/v1?api_key=sk-abcdefgh12345", "local-only"
        )
    assert "hunter2secret" not in str(err.value) and "sk-abcdefgh12345" not in str(err.value)


PUBLIC_NAME = "llm.public.example"  # resolved to the loopback server by the fixture below


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """A loopback server that a public-looking host name reaches (name resolution is patched)."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        return real("127.0.0.1" if host == PUBLIC_NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with OpenAIServer(Faults()) as srv:
        yield srv


def test_public_name_really_reaches_the_server(server: OpenAIServer) -> None:
    """Without the policy, the public-looking URL does reach the loopback server (so counts below mean something)."""
    url = f"http://{PUBLIC_NAME}:{server.port}/v1"
    assert not is_local_url(url)
    task = load_task("fin-sentiment")
    teacher = build_teacher("vllm:m", task, TeacherOptions(base_url=url, rationale=False, max_attempts=1))
    out = teacher.label([TeacherRequest(Item(id="a", text="Profit rose."))])
    assert out[0].status == "ok" and server.record.requests["chat"] == 1


# -- generate --privacy local-only ---------------------------------------------------------------------


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("text\nProfit rose.\nSales fell.\n", encoding="utf-8")
    return path


def test_cli_local_only_refuses_before_any_request(tmp_path: Path, server: OpenAIServer) -> None:
    """The public-looking URL reaches the loopback server, so a request sent would be counted there."""
    from llmkd.generate import main

    argv = ["--input", str(_csv(tmp_path)), "--run", str(tmp_path / "run"), "--teacher", "vllm:m"]
    argv += [
        "--base-url",
        f"http://{PUBLIC_NAME}:{server.port}/v1",
        "--no-rationale",
        "--privacy",
        "local-only",
    ]
    with pytest.raises(TeacherError, match="local-only refuses"):
        main(argv)
    assert server.record.requests["chat"] == 0
    assert not (tmp_path / "run" / "ledger.sqlite").exists()


def test_cli_local_only_accepts_loopback_server(tmp_path: Path, server: OpenAIServer) -> None:
    from llmkd.generate import main

    argv = ["--input", str(_csv(tmp_path)), "--run", str(tmp_path / "run"), "--teacher", "vllm:m"]
    argv += ["--base-url", server.url, "--no-rationale", "--privacy", "local-only"]
    assert main(argv) == 0
    assert server.record.requests["chat"] == 2


def test_cli_error_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_BASE_URL")}
    env["OPENAI_API_KEY"] = "sk-test-0123456789abcdef"
    proc = subprocess.run(
        [
            *CMD,
            "--input",
            str(_csv(tmp_path)),
            "--run",
            str(tmp_path / "r"),
            "--teacher",
            "gpt-4o",
            "--privacy",
            "local-only",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --privacy local-only refuses teacher 'gpt-4o'")
