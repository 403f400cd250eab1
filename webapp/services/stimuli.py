"""Stimulus sets: storing drawings as PNGs in the database and decoding them again.

Reading the files (``.npy``, ``.ndjson``, image folders, ``.npz``) is `models.stimulus_files`'
job, shared with the analysis; here bad files become `ServiceError`s and an import is validated
completely before anything is written, in one transaction.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from models import stimulus_files
from models.stimulus_files import Drawing, StimulusFileError

from ..extensions import db
from ..models import Stimulus, StimulusSet
from .errors import ServiceError

__all__ = ["Drawing", "decode_png", "encode_png", "import_drawings", "read_drawings", "stimulus_pixels"]


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.uint8)


_cache: dict[int, np.ndarray] = {}
_cache_lock = threading.Lock()


def stimulus_pixels(stimulus: Stimulus) -> np.ndarray:
    """The stimulus as uint8 ``[H, W]``, decoded once per process (stimuli never change)."""
    with _cache_lock:
        pixels = _cache.get(stimulus.id)
    if pixels is None:
        pixels = decode_png(stimulus.image_png)
        pixels.setflags(write=False)
        with _cache_lock:
            _cache[stimulus.id] = pixels
    return pixels


# --- reading files ----------------------------------------------------------------------------


def read_drawings(path: str | Path, category: str | None = None) -> list[Drawing]:
    """All drawings in ``path`` (see `models.stimulus_files`), or a `ServiceError` saying why not."""
    try:
        return stimulus_files.read_drawings(path, category)
    except StimulusFileError as exc:
        raise ServiceError(str(exc)) from None


# --- storing ----------------------------------------------------------------------------------


def import_drawings(drawings: list[Drawing], set_name: str, description: str = "",
                    source: str = "") -> tuple[StimulusSet, int]:
    """Add the drawings to the set (created if new) in one transaction. Keys already in the set
    are skipped, so re-importing is safe. Returns ``(set, number added)``."""
    if not set_name or len(set_name) > 64:
        raise ServiceError("set name must be 1-64 characters")
    stimulus_set = db.session.scalar(select(StimulusSet).where(StimulusSet.name == set_name))
    if stimulus_set is None:
        stimulus_set = StimulusSet(name=set_name, description=description, source=source)
        db.session.add(stimulus_set)
        db.session.flush()
    existing = set(db.session.scalars(select(Stimulus.key).where(Stimulus.set_id == stimulus_set.id)))
    added = 0
    for d in drawings:
        if d.key in existing:
            continue
        height, width = d.pixels.shape
        db.session.add(Stimulus(set_id=stimulus_set.id, key=d.key, category=d.category,
                                width=width, height=height, image_png=encode_png(d.pixels),
                                strokes_json=json.dumps(d.strokes) if d.strokes is not None else None))
        added += 1
    db.session.commit()
    return stimulus_set, added
