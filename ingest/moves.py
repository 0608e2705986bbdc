"""Moving a file out of an offload folder without ever losing it: copy, fsync, check the
copy's digest against the digest of what was read, and only then unlink the original."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from archive.domain.canonical import canonical
from archive.domain.errors import InputError, ProblemFound
from archive.domain.model import Digests
from archive.integrity.fixity import digest_chunks, digest_file, read_chunks
from archive.worm.fsutil import fsync_dir
from i18n import N_


def free_name(dest: Path) -> Path:
    """Never overwrite what an area already holds: a second file of that name gets a suffix."""
    if not dest.exists() and not dest.is_symlink():
        return dest
    n = 1
    while True:
        cand = dest.with_name(f"{dest.name}.{n}")
        if not cand.exists() and not cand.is_symlink():
            return cand
        n += 1


def move_verified(src: Path, area: Path, rel: str, expected: Digests | None,
                  report: dict) -> Path:
    """Move ``src`` into ``area/rel`` with its report beside it; returns the new path.

    A symlink is moved as a link (its target is never read); a special file (FIFO, socket,
    device) is never opened: see ``set_aside_special``. The original is unlinked only after
    the copy is on disk and reads back with the expected digests."""
    mode = os.lstat(src).st_mode
    if not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
        raise ProblemFound(N_("{path} is not a regular file: it is never opened (custody sets "
                              "special files aside without reading them)"), subject=str(src),
                           path=str(src))
    dest = free_name(area / rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
        fsync_dir(dest.parent)
    else:
        tmp = dest.with_name(dest.name + ".partial")
        # O_NONBLOCK: a FIFO swapped in under the name since the check must not hang the move
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fin:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ProblemFound(N_("{path} is no longer a regular file; left in place"),
                                   subject=str(src), path=str(src))
            with open(tmp, "xb") as fout:
                while chunk := fin.read(8 << 20):
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
        got = digest_file(tmp)
        want = expected or _digest_regular(src)
        if got != want:
            tmp.unlink()
            raise ProblemFound(N_("{path}: the copy into {area} does not match the original "
                                  "(changed while moving?); the original is left in place"),
                               subject=str(src), path=str(src), area=str(area))
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    side = dest.with_name(dest.name + ".report.json")
    with open(side, "xb") as f:
        f.write(canonical(report))
        f.flush()
        os.fsync(f.fileno())
    src.unlink()
    fsync_dir(src.parent)
    return dest


def _digest_regular(src: Path) -> Digests:
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ProblemFound(N_("{path} is no longer a regular file; left in place"),
                               subject=str(src), path=str(src))
        return digest_chunks(read_chunks(f))


def set_aside_special(src: Path, area: Path, rel: str, report: dict) -> Path | None:
    """A FIFO, socket or device node found in an offload: never opened (reading a FIFO waits
    forever for a writer; a device may never end). It is renamed into ``area`` where that is
    the same file system (a rename reads nothing); otherwise it stays where it is. Either way
    its report is written into ``area``. Returns where the node now is, None when left."""
    dest = free_name(area / rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    moved: Path | None = dest
    try:
        os.rename(src, dest)
        fsync_dir(dest.parent)
        fsync_dir(src.parent)
    except OSError:  # another file system (or no right to move it): leave it in place
        moved = None
    side = dest.with_name(dest.name + ".report.json")
    with open(side, "xb") as f:
        f.write(canonical(report | {"left_in_place": moved is None}))
        f.flush()
        os.fsync(f.fileno())
    return moved


def read_report(path: Path) -> dict:
    side = path.with_name(path.name + ".report.json")
    try:
        return json.loads(side.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(N_("no readable report beside {path}: {error}"), subject=str(path),
                         path=str(path), error=str(exc)) from exc
