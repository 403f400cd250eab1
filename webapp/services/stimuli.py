"""Stimulus sets: storing drawings as PNGs in the database and decoding them again.

Reading the files (``.npy``, ``.ndjson``, image folders, ``.npz``) is `models.stimulus_files`'
job, shared with the analysis; here bad files become `ServiceError`s and an import is validated
completely before anything is written, in one transaction.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from flask import current_app
from PIL import Image
from sqlalchemy import select

from models import stimulus_files
from models.stimulus_files import Drawing, StimulusFileError

from ..extensions import db
from ..models import Stimulus, StimulusSet
from .errors import ServiceError

__all__ = ["Drawing", "decode_png", "encode_png", "import_drawings", "preload_stimulus_views",
           "read_drawings", "stimulus_pixels", "StimulusView", "stimulus_view"]


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.uint8)


@dataclass(frozen=True)
class StimulusView:
    """What a live round needs of its stimulus: the small columns and the decoded pixels."""

    id: int
    key: str
    category: str
    width: int
    height: int
    #: uint8 ``[H, W]``, read-only
    pixels: np.ndarray


_views_lock = threading.Lock()


def _views() -> dict[int, StimulusView]:
    # Per app, which is per process in production; a test's fresh app (and database, whose
    # ids may repeat with other drawings) starts with an empty cache.
    return current_app.extensions.setdefault("stimulus_views", {})


def stimulus_view(stimulus_id: int, loaded: Stimulus | None = None) -> StimulusView:
    """The stimulus, read and decoded once per process: every batch of every round needs its
    size and pixels, and reading the row (PNG included) cost two queries per batch.

    The cache is never invalidated because a stored stimulus never changes: imports only add
    rows (keys already in a set are skipped), nothing in the app updates or deletes one, and
    rounds keep theirs from being deleted (``ondelete="RESTRICT"``). Whoever edits stimulus
    rows by hand in the database restarts the server afterwards. ``loaded`` saves the read when
    the caller already has the row.
    """
    views = _views()
    view = views.get(stimulus_id)
    if view is not None:
        return view
    if loaded is None:
        row = db.session.execute(select(Stimulus.key, Stimulus.category, Stimulus.width,
                                        Stimulus.height, Stimulus.image_png)
                                 .where(Stimulus.id == stimulus_id)).one()
        key, category, width, height, png = row
    else:
        key, category, width, height, png = (loaded.key, loaded.category, loaded.width,
                                             loaded.height, loaded.image_png)
    pixels = decode_png(png)
    pixels.setflags(write=False)
    view = StimulusView(stimulus_id, key, category, width, height, pixels)
    with _views_lock:
        return views.setdefault(stimulus_id, view)


def preload_stimulus_views(stimulus_ids: Iterable[int]) -> None:
    """Read and decode, in one query, the stimuli among ``stimulus_ids`` this process has not
    cached yet (`stimulus_view`): round starts choose among a whole set, and reading its
    drawings one by one as each is first chosen cost a query per start until all were seen."""
    views = _views()
    missing = [sid for sid in stimulus_ids if sid not in views]
    if not missing:
        return
    rows = db.session.execute(select(Stimulus.id, Stimulus.key, Stimulus.category, Stimulus.width,
                                     Stimulus.height, Stimulus.image_png)
                              .where(Stimulus.id.in_(missing))).all()
    for sid, key, category, width, height, png in rows:
        pixels = decode_png(png)
        pixels.setflags(write=False)
        with _views_lock:
            views.setdefault(sid, StimulusView(sid, key, category, width, height, pixels))


def stimulus_pixels(stimulus: Stimulus) -> np.ndarray:
    """The stimulus as uint8 ``[H, W]``, decoded once per process (see `stimulus_view`)."""
    return stimulus_view(stimulus.id, stimulus).pixels


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
