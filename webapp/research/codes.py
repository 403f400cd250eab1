"""Pseudonymous participant codes for dashboards and exports.

`Player.public_id` is the secret inside a player's session cookie and the Prolific id is
personal data, so neither goes into a shared file by default. The code is a one-way hash of the
public id: stable across exports (rows of one person stay linked), useless for impersonation.
"""

from __future__ import annotations

import hashlib


def participant_code(public_id: str) -> str:
    """`p-` and 16 hex digits of SHA-256 of the player's public id."""
    return "p-" + hashlib.sha256(f"participant:{public_id}".encode()).hexdigest()[:16]
