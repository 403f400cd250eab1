"""Reading drawings from stimulus files: one module, used by the game's importer and the analysis.

Supported inputs (each validated; a bad file raises `StimulusFileError` naming the file and why):
- Quick, Draw! ``.npy`` bitmaps: ``[N, 784]`` or ``[N, 28, 28]`` uint8; the category is the
  file's stem unless ``category`` is given.
- Simplified ``.ndjson`` strokes: one drawing per line (``word``, ``key_id``, ``drawing``),
  rendered at 256x256 by `models.render.strokes_to_bitmap`; the strokes are kept too.
- A folder of PNG/JPG images: one subfolder per category, or images directly in the folder with
  ``category`` given. Dark-on-light scans are inverted to white strokes on black.
- ``.npz`` with ``images``, ``categories``, ``keys`` (the repo's default set format).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import render

STROKE_DISPLAY_SIZE = 256
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
MAX_SIDE = 1024


class StimulusFileError(ValueError):
    """A stimulus file cannot be read (the message names the file and the problem)."""


@dataclass
class Drawing:
    """One drawing ready to store."""

    key: str
    category: str
    pixels: np.ndarray  # uint8 [H, W], white strokes on black
    strokes: list | None = None


def _category_name(value: str | None, path: Path) -> str:
    name = (value or path.stem).strip()
    if not name or len(name) > 64:
        raise StimulusFileError(f"{path}: category name must be 1-64 characters")
    return name


def read_npy(path: Path, category: str | None) -> list[Drawing]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise StimulusFileError(f"{path}: not a readable .npy array ({exc})") from None
    if arr.dtype != np.uint8 or not (arr.ndim == 2 and arr.shape[1] == 784 or arr.ndim == 3 and arr.shape[1:] == (28, 28)):
        raise StimulusFileError(f"{path}: expected uint8 [N, 784] or [N, 28, 28] bitmaps, got {arr.dtype} {arr.shape}")
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
                raise StimulusFileError(f"{path}:{line_no}: not a simplified Quick, Draw! drawing ({exc})") from None
            name = _category_name(category or item.get("word"), path)
            key = str(item.get("key_id") or f"{path.stem}-{line_no}")
            pixels = render.strokes_to_bitmap(strokes, size=STROKE_DISPLAY_SIZE)
            drawings.append(Drawing(key, name, pixels, strokes))
    return drawings


def read_image(path: Path, category: str) -> Drawing:
    """One image file as white strokes on black (dark-on-light scans are inverted)."""
    try:
        with Image.open(path) as img:
            img.load()
            gray = np.asarray(img.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise StimulusFileError(f"{path}: not a readable image ({exc})") from None
    if max(gray.shape) > MAX_SIDE:
        raise StimulusFileError(f"{path}: images may be at most {MAX_SIDE} px on a side")
    return Drawing(path.stem, category, render.image_to_strokes_on_black(gray))


def read_image_folder(path: Path, category: str | None) -> list[Drawing]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    drawings = []
    if files:
        if category is None:
            raise StimulusFileError(f"{path}: images directly in the folder need --category")
        drawings += [read_image(f, category) for f in files]
    for sub in subdirs:
        name = _category_name(category or sub.name, sub)
        drawings += [read_image(f, name) for f in sorted(sub.iterdir())
                     if f.suffix.lower() in IMAGE_SUFFIXES]
    return drawings


def read_npz(path: Path) -> list[Drawing]:
    try:
        with np.load(path, allow_pickle=False) as data:
            images, categories, keys = data["images"], data["categories"], data["keys"]
    except (ValueError, OSError, KeyError) as exc:
        raise StimulusFileError(f"{path}: expected an .npz with images, categories and keys ({exc})") from None
    if images.dtype != np.uint8 or images.ndim != 3 or not len(images) == len(categories) == len(keys):
        raise StimulusFileError(f"{path}: images must be uint8 [N, H, W] with one category and key each")
    return [Drawing(str(k), str(c), img) for img, c, k in zip(images, categories, keys)]


def read_drawings(path: str | Path, category: str | None = None) -> list[Drawing]:
    """All drawings in ``path`` (file or folder), or a `StimulusFileError` saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise StimulusFileError(f"{path}: no such file or folder")
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
            raise StimulusFileError(f"{path}: a single image needs --category")
        drawings = [read_image(path, category)]
    else:
        raise StimulusFileError(f"{path}: unsupported file type (use .npy, .ndjson, .npz, or a folder of PNG/JPG)")
    if not drawings:
        raise StimulusFileError(f"{path}: no drawings found")
    keys = [d.key for d in drawings]
    if len(set(keys)) != len(keys):
        raise StimulusFileError(f"{path}: stimulus names repeat within the import")
    return drawings
