"""Every export kind as one byte stream, and the bundle zip that holds them all.

The zip streams (see `zipstream`): its bytes go out while rows are still being read. Heatmap
PNGs are drawn while maps.npz is written and parked in a temporary folder until that member is
closed. The manifest, written last, has each member's row count, size and SHA-256.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Iterator

from ..models import utcnow
from . import codebook
from .exports import WRITERS, Counter, ExportOptions
from .maps_export import heatmap_files, maps_npz
from .zipstream import zip_stream

#: kind -> (download file name, mimetype)
KINDS: dict[str, tuple[str, str]] = {
    **{kind: (name, mime) for kind, (name, mime, _) in WRITERS.items()},
    "maps": ("maps.npz", "application/octet-stream"),
    "bundle": ("bundle.zip", "application/zip"),
}


def _file_chunks(path: Path, size: int = 1 << 16) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def bundle_zip(options: ExportOptions) -> Iterator[bytes]:
    """clicks.csv, rounds.csv, guesses.jsonl, maps.npz, heatmaps/*.png, codebook.md/.csv and
    manifest.json in one zip."""
    files: dict[str, dict[str, object]] = {}
    counters = {name: Counter() for name in ("clicks.csv", "rounds.csv", "guesses.jsonl", "maps.npz")}
    with tempfile.TemporaryDirectory(prefix="da-heatmaps-") as tmp:
        heatmap_dir = Path(tmp)

        def record(name: str, size: int, sha256: str) -> None:
            rows = counters[name].rows if name in counters else None
            files[name] = {"rows": rows, "bytes": size, "sha256": sha256}

        def members() -> Iterator[tuple[str, Iterator[bytes]]]:
            for kind in ("clicks", "rounds", "guesses"):
                name, _, writer = WRITERS[kind]
                yield name, writer(options, counters[name])
            # PNGs are drawn while the maps are computed and added after maps.npz is closed.
            yield "maps.npz", maps_npz(options, counters["maps.npz"], heatmap_dir=heatmap_dir)
            for path, name in heatmap_files(heatmap_dir):
                yield name, _file_chunks(path)
            yield "codebook.md", iter([codebook.as_markdown().encode()])
            yield "codebook.csv", iter([codebook.as_csv().encode()])
            manifest = {"created_at": utcnow().isoformat(timespec="seconds") + "Z",
                        "filters": options.scope.describe(),
                        "external_ids": options.external_ids, "files": files}
            yield "manifest.json", iter([json.dumps(manifest, indent=2).encode()])

        yield from zip_stream(members(), record)


def export_stream(kind: str, options: ExportOptions) -> Iterator[bytes]:
    """The bytes of one export kind (see `KINDS`)."""
    if kind in WRITERS:
        return WRITERS[kind][2](options)
    if kind == "maps":
        return maps_npz(options, Counter())
    if kind == "bundle":
        return bundle_zip(options)
    raise KeyError(kind)
