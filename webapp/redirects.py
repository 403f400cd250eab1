"""Which redirect targets taken from a request (``?next=``, form fields) may be followed.

Browsers are lenient about URLs: they drop tabs and newlines (``/\\t/example.org`` becomes
``//example.org``, another site) and read ``\\`` as ``/``. So a target is followed only when it
is a plain same-site path: it starts with the expected prefix, has no second leading slash, no
backslash, no control or whitespace characters, and parses with neither scheme nor host.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def is_local_path(target: str | None, prefix: str = "/") -> bool:
    """True when ``target`` is a path on this site under ``prefix`` and nothing else."""
    if not target or not target.startswith(prefix) or target.startswith("//"):
        return False
    if "\\" in target or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
