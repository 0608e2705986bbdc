"""Files that people hand to custody (a manifest, a config, a case register, a key): read only
when they are regular files. A FIFO, a device, a socket or a directory is refused by name and
never opened for reading — opening a FIFO blocks until a writer comes, which is a hang."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from archive.domain.errors import InputError
from i18n import N_, Text

MAX_INPUT = 256 << 20  # a manifest or register larger than this is not a manifest


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in English words (callers record it as a
    reason); None for a regular file. Each name is in the catalogs: ``Text(name)`` shows it."""
    for test, name in ((stat.S_ISFIFO, N_("a FIFO (named pipe)")),
                       (stat.S_ISSOCK, N_("a socket")),
                       (stat.S_ISCHR, N_("a character device")),
                       (stat.S_ISBLK, N_("a block device")),
                       (stat.S_ISDIR, N_("a folder")), (stat.S_ISLNK, N_("a symbolic link"))):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else N_("not a regular file")


def _kind(mode: int) -> Text:
    return Text(special_kind(mode) or N_("a regular file"))


def read_input(path: str | os.PathLike, what: str | Text, limit: int = MAX_INPUT) -> bytes:
    """The bytes of a regular file (symbolic links followed to one), or InputError naming the
    file and why (``what`` names it for the reader: an option as typed, or a ``Text``).
    Opened with O_NONBLOCK so that a file swapped for a FIFO between the check and the open
    cannot block; the opened descriptor is checked again."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise InputError(N_("{what} {path}: no such file"), subject=str(p), what=what,
                         path=str(p)) from exc
    except OSError as exc:
        raise InputError(N_("{what} {path}: cannot be read ({reason})"), subject=str(p),
                         what=what, path=str(p), reason=exc.strerror) from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputError(N_("{what} {path}: {kind}, not a file; refused without reading it"),
                         subject=str(p), what=what, path=str(p), kind=_kind(st.st_mode))
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(N_("{what} {path}: cannot be opened ({reason})"), subject=str(p),
                         what=what, path=str(p), reason=exc.strerror) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(N_("{what} {path}: {kind}, not a file; refused"), subject=str(p),
                             what=what, path=str(p), kind=_kind(st.st_mode))
        if st.st_size > limit:
            raise InputError(N_("{what} {path}: {size} bytes, more than {limit} allowed"),
                             subject=str(p), what=what, path=str(p), size=st.st_size,
                             limit=limit)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise InputError(N_("{what} {path}: more than {limit} bytes"), subject=str(p),
                                 what=what, path=str(p), limit=limit)
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(N_("{what} {path}: cannot be read ({reason})"), subject=str(p),
                         what=what, path=str(p), reason=exc.strerror) from exc
    finally:
        os.close(fd)


def read_text_input(path: str | os.PathLike, what: str | Text, limit: int = MAX_INPUT) -> str:
    """A regular file's text in UTF-8 (a BOM allowed); other encodings refused by name."""
    data = read_input(path, what, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(N_("{what} {path}: not UTF-8 text (byte {offset}: {byte}); save it as "
                            "UTF-8"), subject=str(path), what=what, path=str(path),
                         offset=exc.start, byte=data[exc.start:exc.start + 1].hex()) from exc


def _lstat(p: Path, what: str | Text) -> os.stat_result | None:
    """The path's own status (a link not followed), or None when nothing is there."""
    try:
        return p.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(N_("{what} {path}: {reason}"), subject=str(p), what=what, path=str(p),
                         reason=exc.strerror) from exc


def write_output(path: str | os.PathLike, data: bytes, what: str | Text) -> Path:
    """Write a document a person asked for (a report, a register) to ``path``: refused when
    the path is a directory, a FIFO or a device (writing to a FIFO waits for a reader — a
    hang), or its folder is not there; written to a temporary name and renamed into place, so
    a reader never sees half a file."""
    p = Path(path)
    st = _lstat(p, what)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(N_("{what} {path}: {kind}; give the name of a file to write"),
                         subject=str(p), what=what, path=str(p), kind=_kind(st.st_mode))
    if not p.parent.is_dir():
        raise InputError(N_("{what} {path}: the folder {folder} does not exist"), subject=str(p),
                         what=what, path=str(p), folder=str(p.parent))
    tmp = p.with_name(f".{p.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(N_("{what} {path}: cannot be written ({reason})"), subject=str(p),
                         what=what, path=str(p), reason=exc.strerror) from exc
    return p


def output_dir(path: str | os.PathLike, what: str | Text) -> Path:
    """A folder to write into: made (with its parents) when it is not there; refused by name
    when the path is a file, a FIFO or a device, or cannot be made."""
    p = Path(path)
    st = _lstat(p, what)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        kind = Text(N_("a file")) if stat.S_ISREG(st.st_mode) else _kind(st.st_mode)
        raise InputError(N_("{what} {path}: {kind}, not a folder"), subject=str(p), what=what,
                         path=str(p), kind=kind)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(N_("{what} {path}: cannot be made ({reason})"), subject=str(p),
                         what=what, path=str(p), reason=exc.strerror) from exc
    return p
