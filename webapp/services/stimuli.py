"""Stimulus sets: reading drawings from files, storing them as PNGs, and decoding them again.

Supported imports (all validated before anything is written, in one transaction):
- Quick, Draw! ``.npy`` bitmaps: ``[N, 784]`` or ``[N, 28, 28]`` uint8; the category is the
  file's stem unless ``category`` is given.
- Simplified ``.ndjson`` strokes: one drawing per line (``word``, ``key_id``, ``drawing``), shown
  at 256x256 as rendered by `models.render.strokes_to_bitmap`; the strokes are kept too.
- A folder of PNG/JPG images: one subfolder per category, or images directly in the folder with
  ``category`` given. Dark-on-light scans are inverted to white strokes on black.
- ``.npz`` with ``images``, ``categories``, ``keys`` (the repo's default set format).
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from models import render

from ..extensions import db
from ..models import Stimulus, StimulusSet
from .errors import ServiceError

STROKE_DISPLAY_SIZE = 256
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
MAX_SIDE = 1024


@dataclass
class Drawing:
    """One drawing ready to store."""

    key: str
    category: str
    pixels: np.ndarray  # uint8 [H, W], white strokes on black
    strokes: list | None = None


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


def _category_name(value: str | None, path: Path) -> str:
    name = (value or path.stem).strip()
    if not name or len(name) > 64:
        raise ServiceError(f"{path}: category name must be 1-64 characters")
    return name


def read_npy(path: Path, category: str | None) -> list[Drawing]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ServiceError(f"{path}: not a readable .npy array ({exc})") from None
    if arr.dtype != np.uint8 or not (arr.ndim == 2 and arr.shape[1] == 784 or arr.ndim == 3 and arr.shape[1:] == (28, 28)):
        raise ServiceError(f"{path}: expected uint8 [N, 784] or [N, 28, 28] bitmaps, got {arr.dtype} {arr.shape}")
    name = _category_name(category, path)
    slug = name.replace(" ", "_")
    return [Drawing(f"{slug}-{i:06d}", name, img) for i, img in enumerate(arr.reshape(-1, 28, 28))]


def read_ndjson(path: Path, category: str | None) -> list[Drawing]:
    drawings = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                strokes = item["drawing"]
                for stroke in strokes:
                    if len(stroke) < 2 or len(stroke[0]) != len(stroke[1]):
                        raise ValueError("each stroke must be [[x...], [y...]] of equal length")
                    if not all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in stroke[0] + stroke[1]):
                        raise ValueError("coordinates must be numbers in 0..255")
            except (ValueError, KeyError, TypeError) as exc:
                raise ServiceError(f"{path}:{line_no}: not a simplified Quick, Draw! drawing ({exc})") from None
            name = _category_name(category or item.get("word"), path)
            key = str(item.get("key_id") or f"{path.stem}-{line_no}")
            pixels = render.strokes_to_bitmap(strokes, size=STROKE_DISPLAY_SIZE)
            drawings.append(Drawing(key, name, pixels, strokes))
    return drawings


def _read_image(path: Path, category: str) -> Drawing:
    try:
        with Image.open(path) as img:
            img.load()
            gray = np.asarray(img.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ServiceError(f"{path}: not a readable image ({exc})") from None
    if max(gray.shape) > MAX_SIDE:
        raise ServiceError(f"{path}: images may be at most {MAX_SIDE} px on a side")
    return Drawing(path.stem, category, render.image_to_strokes_on_black(gray))


def read_image_folder(path: Path, category: str | None) -> list[Drawing]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    drawings = []
    if files:
        if category is None:
            raise ServiceError(f"{path}: images directly in the folder need --category")
        drawings += [_read_image(f, category) for f in files]
    for sub in subdirs:
        name = _category_name(category or sub.name, sub)
        drawings += [_read_image(f, name) for f in sorted(sub.iterdir())
                     if f.suffix.lower() in IMAGE_SUFFIXES]
    return drawings


def read_npz(path: Path) -> list[Drawing]:
    try:
        with np.load(path, allow_pickle=False) as data:
            images, categories, keys = data["images"], data["categories"], data["keys"]
    except (ValueError, OSError, KeyError) as exc:
        raise ServiceError(f"{path}: expected an .npz with images, categories and keys ({exc})") from None
    if images.dtype != np.uint8 or images.ndim != 3 or not len(images) == len(categories) == len(keys):
        raise ServiceError(f"{path}: images must be uint8 [N, H, W] with one category and key each")
    return [Drawing(str(k), str(c), img) for img, c, k in zip(images, categories, keys)]


def read_drawings(path: str | Path, category: str | None = None) -> list[Drawing]:
    """All drawings in ``path`` (file or folder), or a `ServiceError` saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise ServiceError(f"{path}: no such file or folder")
    if path.is_dir():
        drawings = read_image_folder(path, category)
    elif path.suffix == ".npy":
        drawings = read_npy(path, category)
    elif path.suffix == ".ndjson":
        drawings = read_ndjson(path, category)
    elif path.suffix == ".npz":
        drawings = read_npz(path)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        if category is None:
            raise ServiceError(f"{path}: a single image needs --category")
        drawings = [_read_image(path, category)]
    else:
        raise ServiceError(f"{path}: unsupported file type (use .npy, .ndjson, .npz, or a folder of PNG/JPG)")
    if not drawings:
        raise ServiceError(f"{path}: no drawings found")
    keys = [d.key for d in drawings]
    if len(set(keys)) != len(keys):
        raise ServiceError(f"{path}: stimulus names repeat within the import")
    return drawings


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
