"""Moving a file out of an offload folder without ever losing it: copy, fsync, check the
copy's digest against the digest of what was read, and only then unlink the original."""

from __future__ import annotations

import json
import os
from pathlib import Path

from archive.domain.canonical import canonical
from archive.domain.errors import InputError, ProblemFound
from archive.domain.model import Digests
from archive.integrity.fixity import digest_file
from archive.worm.fsutil import fsync_dir


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

    A symlink is moved as a link (its target is never read). The original is unlinked only
    after the copy is on disk and reads back with the expected digests."""
    dest = free_name(area / rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
        fsync_dir(dest.parent)
    else:
        tmp = dest.with_name(dest.name + ".partial")
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            while chunk := fin.read(8 << 20):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        got = digest_file(tmp)
        want = expected or digest_file(src)
        if got != want:
            tmp.unlink()
            raise ProblemFound(f"{src}: the copy into {area} does not match the original "
                               "(changed while moving?); the original is left in place",
                               subject=str(src))
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


def read_report(path: Path) -> dict:
    side = path.with_name(path.name + ".report.json")
    try:
        return json.loads(side.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"no readable report beside {path}: {exc}", subject=str(path)) from exc
