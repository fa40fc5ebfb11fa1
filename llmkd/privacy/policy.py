"""Privacy policy: ``--privacy local-only`` keeps every text on this machine or this private network.

A teacher is local when it runs in-process (``local``, ``hf:``) or when the address its requests go to
is a loopback or private-network host (127.0.0.0/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7,
link-local, ``localhost``) or a unix socket. Host names other than ``localhost`` are not resolved: a
name could point anywhere, so pass the server's IP address instead. The check runs before any teacher
is built, so a refused run sends nothing.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from urllib.parse import urlsplit

from llmkd.errors import ConfigError, TeacherError
from llmkd.io.secrets import scrub_secrets
from llmkd.teachers.specs import LOCAL_KINDS, teacher_kind

PRIVACY_MODES: tuple[str, ...] = ("off", "local-only")

# Where each remote backend sends requests when no --base-url is given.
DEFAULT_BASE_URL_ENV = {
    "openai": "OPENAI_BASE_URL",
    "openai-compatible": "OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
}
UNIX_SCHEMES = frozenset({"unix", "http+unix", "https+unix"})
PRIVACY_ENV = "LLMKD_PRIVACY"  # a machine-wide floor: set to local-only, no flag can loosen it


def is_local_host(host: str) -> bool:
    """Whether ``host`` (an IP literal or ``localhost``) is loopback, private or link-local."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id (fe80::1%eth0)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def is_local_url(url: str | None) -> bool:
    """Whether requests to ``url`` stay on this machine or its private network (unix sockets included)."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme.lower() in UNIX_SCHEMES:
        return True
    if parts.scheme.lower() not in {"http", "https"}:
        return False
    return host is not None and is_local_host(host)


def effective_base_url(spec: str, base_url: str | None) -> str | None:
    """The address a remote teacher will call: ``--base-url``, else the backend's environment variable."""
    kind = teacher_kind(spec)
    env = DEFAULT_BASE_URL_ENV.get(kind)
    return base_url or (os.environ.get(env) if env else None) or None


def teacher_is_local(spec: str, base_url: str | None) -> bool:
    """Whether teacher ``spec`` (called at ``base_url``, if remote) keeps the texts local."""
    kind = teacher_kind(spec)
    if kind in LOCAL_KINDS:
        return True
    return is_local_url(effective_base_url(spec, base_url))


def resolve_privacy(flag: str | None) -> str:
    """The mode in force: the stricter of ``--privacy`` and the ``LLMKD_PRIVACY`` environment variable.

    Raises:
        ConfigError: either names an unknown mode.
    """
    modes = {"--privacy": flag or "off", PRIVACY_ENV: os.environ.get(PRIVACY_ENV, "").strip() or "off"}
    for source, mode in modes.items():
        if mode not in PRIVACY_MODES:
            raise ConfigError(f"{source} {mode!r}: use one of {', '.join(PRIVACY_MODES)}")
    return max(modes.values(), key=PRIVACY_MODES.index)


def check_privacy(teachers: str | Sequence[str], base_url: str | None, mode: str) -> None:
    """Refuse, before any request, a teacher that ``mode`` does not allow.

    Args:
        teachers: The ``--teacher`` specs (one or several).
        base_url: ``--base-url`` (None: the backend's ``*_BASE_URL`` environment variable or default).
        mode: ``off`` (anything goes) or ``local-only``.

    Raises:
        ConfigError: ``mode`` (or ``LLMKD_PRIVACY``) is not a known privacy mode.
        TeacherError: under ``local-only``, a teacher would send texts off this machine or private network.
    """
    if resolve_privacy(mode) == "off":
        return
    for spec in [teachers] if isinstance(teachers, str) else teachers:
        if teacher_is_local(spec, base_url):
            continue
        target = effective_base_url(spec, base_url)
        where = f"base URL {scrub_secrets(target)!r}" if target else "the provider's public API"
        raise TeacherError(
            f"--privacy local-only refuses teacher {spec!r}: it would send texts to {where}; use "
            "--teacher local or hf:PATH, or a server on loopback/private network "
            "(e.g. --base-url http://127.0.0.1:8000/v1)"
        )
