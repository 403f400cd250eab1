"""Zip archives written as a stream of byte chunks.

`zipfile` writes to an unseekable sink by adding data descriptors after each member, so the
archive's bytes can be sent while it is still being produced: nothing is held whole in memory
or spooled to disk. Used for the bundle and for maps.npz (an npz is a zip of .npy files).
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from typing import Callable, Iterable, Iterator


class Pipe(io.RawIOBase):
    """A write-only sink whose contents are taken out in pieces (`drain`)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def member_info(name: str, compression: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """A member stamped with the current time (a bare name would be dated 1980-01-01)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = compression
    return info


def zip_stream(members: Iterable[tuple[str, Iterator[bytes]]],
               on_member: Callable[[str, int, str], None] | None = None,
               compression: int = zipfile.ZIP_DEFLATED) -> Iterator[bytes]:
    """Zip ``(name, chunks)`` members as a stream; ``on_member(name, size, sha256)`` after each
    member (size and hash of the uncompressed content)."""
    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", compression=compression) as archive:
        for name, chunks in members:
            digest, size = hashlib.sha256(), 0
            with archive.open(member_info(name, compression), "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if (data := pipe.drain()):
                        yield data
            if on_member:
                on_member(name, size, digest.hexdigest())
            if (data := pipe.drain()):
                yield data
    yield pipe.drain()
