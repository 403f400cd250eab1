"""Torch networks, training and inference for Drawing Attention.

The classifier API is re-exported here but imported lazily, so code that only needs the shared
geometry (``models.render``) does not pay for importing torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SketchClassifier", "load_classifier", "save_classifier"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from models import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
