"""Reading a bag wherever it is (a directory, an ISO image): the small interface both
implement, and the one check every relative path inside a bag must pass."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO

from archive.domain.errors import InputError
from archive.integrity.fixity import CHUNK, read_chunks
from i18n import N_, Text

_ODD = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|]')
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def _unsafe(relpath: object, problem: str) -> InputError:
    return InputError(N_("unsafe bag path {path!r}: {problem}"), path=relpath,
                      problem=Text(problem))


def check_relpath(relpath: str) -> str:
    """A safe relative path inside a bag: NFC, '/'-separated, no '..', no absolute path, no
    control or Windows-reserved characters, no trailing dot or space, at most 255 bytes a name.
    Chinese names are fine."""
    if not isinstance(relpath, str) or not relpath:
        raise _unsafe(relpath, N_("the path is empty"))
    path = unicodedata.normalize("NFC", relpath)
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise _unsafe(relpath, N_("the path is absolute"))
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise _unsafe(relpath, N_("empty, '.' or '..' component"))
        if _ODD.search(part):
            raise _unsafe(relpath, N_("control or reserved character"))
        if part[-1] in ". " or part.split(".")[0].lower() in _WINDOWS_RESERVED:
            raise _unsafe(relpath, N_("a name Windows cannot hold"))
        if len(part.encode("utf-8")) > 255:
            raise _unsafe(relpath, N_("a name longer than 255 bytes"))
    return path


class BagSource:
    """The files of a bag wherever they are: relative '/' paths, sizes, streaming opens."""

    name: str = ""

    def files(self) -> dict[str, int]:
        """Every regular file, relative path to size."""
        raise NotImplementedError

    def open(self, relpath: str) -> BinaryIO:
        raise NotImplementedError

    def read_bytes(self, relpath: str) -> bytes:
        with self.open(relpath) as f:
            return f.read()

    def chunks(self, relpath: str) -> Iterator[bytes]:
        with self.open(relpath) as f:
            yield from read_chunks(f, CHUNK)

    def oddities(self) -> list[tuple[str, str]]:
        """(path, problem) for entries that are neither files nor directories."""
        return []

    def close(self) -> None:
        pass
