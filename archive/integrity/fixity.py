"""Size, SHA-256 and SM3 of one byte stream in a single pass.

SM3 (~280 MB/s here) is the slow one. hashlib releases the GIL for large updates, so SHA-256
runs on a helper thread beside SM3 and the pass costs about what SM3 alone costs.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from archive.domain.model import Digests

CHUNK = 8 * 1024 * 1024


def new_sm3():
    """An SM3 hash object: OpenSSL's through hashlib where it has one (it releases the GIL)."""
    try:
        return hashlib.new("sm3")
    except ValueError:  # an OpenSSL without SM3: the cryptography package has its own
        from cryptography.hazmat.primitives import hashes

        class _SM3:
            def __init__(self) -> None:
                self._h = hashes.Hash(hashes.SM3())

            def update(self, data: bytes) -> None:
                self._h.update(data)

            def hexdigest(self) -> str:
                return self._h.finalize().hex()

        return _SM3()


class StreamDigests:
    """Feed chunks with ``update``; ``finish`` returns the Digests. Memory stays at two chunks."""

    _STOP = object()

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._sm3 = new_sm3()
        self.size = 0
        self._q: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()
        self._done: Digests | None = None

    def _run(self) -> None:
        try:
            while (chunk := self._q.get()) is not self._STOP:
                self._sha.update(chunk)
        except BaseException as exc:  # surfaced by finish()
            self._error = exc

    def update(self, chunk: bytes) -> None:
        if self._done is not None:
            raise RuntimeError("digests already finished")
        self.size += len(chunk)
        self._q.put(chunk)
        self._sm3.update(chunk)

    def finish(self) -> Digests:
        if self._done is None:
            self._q.put(self._STOP)
            self._thread.join()
            if self._error is not None:
                raise self._error
            self._done = Digests(self.size, self._sha.hexdigest(), self._sm3.hexdigest())
        return self._done


def digest_chunks(chunks: Iterable[bytes]) -> Digests:
    d = StreamDigests()
    for chunk in chunks:
        d.update(chunk)
    return d.finish()


def read_chunks(f: BinaryIO, chunk_size: int = CHUNK) -> Iterable[bytes]:
    while chunk := f.read(chunk_size):
        yield chunk


def digest_file(path: str | Path, chunk_size: int = CHUNK) -> Digests:
    with open(path, "rb") as f:
        return digest_chunks(read_chunks(f, chunk_size))


def digest_bytes(data: bytes) -> Digests:
    sm3 = new_sm3()
    sm3.update(data)
    return Digests(len(data), hashlib.sha256(data).hexdigest(), sm3.hexdigest())
