"""Files that people hand to custody (a manifest, a config, a case register, a key): read only
when they are regular files. A FIFO, a device, a socket or a directory is refused by name and
never opened for reading — opening a FIFO blocks until a writer comes, which is a hang."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from archive.domain.errors import InputError

MAX_INPUT = 256 << 20  # a manifest or register larger than this is not a manifest


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _kind(mode: int) -> str:
    return special_kind(mode) or "a regular file"


def read_input(path: str | os.PathLike, what: str, limit: int = MAX_INPUT) -> bytes:
    """The bytes of a regular file (symbolic links followed to one), or InputError naming the
    file and why. Opened with O_NONBLOCK so that a file swapped for a FIFO between the check
    and the open cannot block; the opened descriptor is checked again."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise InputError(f"{what} {p}: no such file", subject=str(p)) from exc
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot be read ({exc.strerror})", subject=str(p)) from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {p}: {_kind(st.st_mode)}, not a file; refused without "
                         "reading it", subject=str(p))
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot be opened ({exc.strerror})",
                         subject=str(p)) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{what} {p}: {_kind(st.st_mode)}, not a file; refused",
                             subject=str(p))
        if st.st_size > limit:
            raise InputError(f"{what} {p}: {st.st_size} bytes, more than {limit} allowed",
                             subject=str(p))
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise InputError(f"{what} {p}: more than {limit} bytes", subject=str(p))
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot be read ({exc.strerror})", subject=str(p)) from exc
    finally:
        os.close(fd)


def read_text_input(path: str | os.PathLike, what: str, limit: int = MAX_INPUT) -> str:
    """A regular file's text in UTF-8 (a BOM allowed); other encodings refused by name."""
    data = read_input(path, what, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path}: not UTF-8 text (byte {exc.start}: "
                         f"{data[exc.start:exc.start + 1].hex()}); save it as UTF-8",
                         subject=str(path)) from exc


def _lstat(p: Path, what: str) -> os.stat_result | None:
    """The path's own status (a link not followed), or None when nothing is there."""
    try:
        return p.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"{what} {p}: {exc.strerror}", subject=str(p)) from exc


def write_output(path: str | os.PathLike, data: bytes, what: str) -> Path:
    """Write a document a person asked for (a report, a register) to ``path``: refused when
    the path is a directory, a FIFO or a device (writing to a FIFO waits for a reader — a
    hang), or its folder is not there; written to a temporary name and renamed into place, so
    a reader never sees half a file."""
    p = Path(path)
    st = _lstat(p, what)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {p}: {_kind(st.st_mode)}; give the name of a file to write",
                         subject=str(p))
    if not p.parent.is_dir():
        raise InputError(f"{what} {p}: the folder {p.parent} does not exist", subject=str(p))
    tmp = p.with_name(f".{p.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{what} {p}: cannot be written ({exc.strerror})",
                         subject=str(p)) from exc
    return p


def output_dir(path: str | os.PathLike, what: str) -> Path:
    """A folder to write into: made (with its parents) when it is not there; refused by name
    when the path is a file, a FIFO or a device, or cannot be made."""
    p = Path(path)
    st = _lstat(p, what)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else _kind(st.st_mode)
        raise InputError(f"{what} {p}: {kind}, not a folder", subject=str(p))
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot be made ({exc.strerror})", subject=str(p)) from exc
    return p
