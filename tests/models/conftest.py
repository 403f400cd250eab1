"""The repository root must be importable (``models``) however pytest is started; without it,
``tests/models`` itself would shadow the ``models`` package as a namespace package."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
