"""The address participants use to reach the game, for every study link.

A researcher often creates a study from the machine that runs the game (``http://127.0.0.1:8000``),
or from behind the reverse proxy; the link built from *their* request would then point at their
own computer, and pasted into Prolific it would send every participant nowhere. So the link's
base comes from a setting: ``DA_PUBLIC_URL`` (e.g. ``https://draw.example.org``), else Flask's
``SERVER_NAME`` (with ``PREFERRED_URL_SCHEME``), and only when neither is set from the request.
A link whose host is a loopback or unspecified address (``localhost``, ``127.x``, ``::1``,
``0.0.0.0``) is never shown for a Prolific study: the page says what to set instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request

#: where the base of a link came from, as the study page names it
FROM_SETTING, FROM_SERVER_NAME, FROM_REQUEST, FROM_NOTHING = (
    "DA_PUBLIC_URL", "SERVER_NAME", "the address you are browsing from", "nothing (relative link)")


def normalise(value: str | None) -> str | None:
    """``DA_PUBLIC_URL`` checked and without a trailing slash; None when unset. Raises
    ValueError with a message a researcher can act on."""
    if not value or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"DA_PUBLIC_URL={value!r} must be an http(s) address such as "
                         "https://draw.example.org")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"DA_PUBLIC_URL={value!r} must not carry a query, fragment or login")
    return value.rstrip("/")


def validate(config: Mapping[str, Any]) -> None:
    """Refuse to start with a malformed ``DA_PUBLIC_URL`` (a typo would break every link)."""
    try:
        normalise(config.get("PUBLIC_URL"))
    except ValueError as exc:
        raise RuntimeError(f"{exc}; refusing to start") from None


def is_loopback(url: str) -> bool:
    """Whether only the machine itself can open ``url`` (localhost, 127.x, ::1, 0.0.0.0)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def base_url() -> tuple[str, str]:
    """``(base, where it came from)`` of links for participants, without a trailing slash."""
    config = current_app.config
    setting = normalise(config.get("PUBLIC_URL"))
    if setting:
        return setting, FROM_SETTING
    if config.get("SERVER_NAME"):
        scheme = config.get("PREFERRED_URL_SCHEME") or "http"
        root = (config.get("APPLICATION_ROOT") or "/").rstrip("/")
        return f"{scheme}://{config['SERVER_NAME']}{root}", FROM_SERVER_NAME
    if has_request_context():
        return request.url_root.rstrip("/"), FROM_REQUEST
    return "", FROM_NOTHING


@dataclass(frozen=True)
class StudyLink:
    """A study's participant link, as the study page and the CLI show it."""

    url: str
    source: str
    loopback: bool
    #: True when the link must not be handed out: a Prolific study on a loopback address
    refused: bool


#: what Prolific puts in place of these placeholders when it sends a participant
PROLIFIC_QUERY = "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"


def study_link(study: Any) -> StudyLink:
    """The link participants of ``study`` open (Prolific's id placeholders included)."""
    base, source = base_url()
    # Slugs are [a-z0-9-] (research.studies.SLUG_RE): nothing to escape.
    url = f"{base}/study/{study.slug}" + (PROLIFIC_QUERY if study.mode == "prolific" else "")
    loopback = bool(base) and is_loopback(base)
    return StudyLink(url=url, source=source, loopback=loopback,
                     refused=study.mode == "prolific" and (loopback or not base))
