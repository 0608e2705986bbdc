"""Ingest's scratch folders in the temporary directory (``custody-ingest-<pid>-…``): one per
run, removed at its end; those a killed run left behind are removed by the next ingest and by
``custody reconcile``.

A folder names the process that made it and holds an ``owner`` file with that process's
start time, so that a process id the system has since given to another program does not keep
a dead run's folder alive forever, nor is a live run's folder taken for a dead one's. A
folder made before folders named their process is removed once nothing touched it for a day.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "custody-ingest-"
LEGACY_IDLE_S = 24 * 3600


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or
    None when it cannot be read (no such process, no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from its end
    return text.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    if started is not None and Path("/proc").is_dir():
        now = _start_time(pid)
        return now is not None and now == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def make(directory: str | os.PathLike | None = None) -> Path:
    """A new scratch folder for this process."""
    pid = os.getpid()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-", dir=directory))
    (path / "owner").write_text(f"{pid} {_start_time(pid) or ''}\n")
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _owner(path: Path) -> tuple[int, str | None] | None:
    rest = path.name[len(PREFIX):]
    head = rest.split("-", 1)[0]
    if not head.isdigit():
        return None  # made before folders named their process: see _stale
    started = None
    with contextlib.suppress(OSError, IndexError):
        parts = (path / "owner").read_text().split()
        if int(parts[0]) == int(head) and len(parts) > 1:
            started = parts[1]
    return int(head), started


def _stale(path: Path) -> bool:
    """A folder from before folders named their process: a run touches it for every file it
    reads (a link made and removed), so one untouched for a day belongs to no live run."""
    try:
        return time.time() - path.stat().st_mtime > LEGACY_IDLE_S
    except OSError:
        return False


def remove_dead(directory: str | os.PathLike | None = None) -> list[str]:
    """Remove the scratch folders of runs whose process is gone; the names removed."""
    root = Path(directory or tempfile.gettempdir())
    removed = []
    try:
        candidates = sorted(root.glob(PREFIX + "*"))
    except OSError:
        return []
    for path in candidates:
        if path.is_symlink() or not path.is_dir():
            continue
        owner = _owner(path)
        if (owner is None and not _stale(path)) or (owner is not None and _alive(*owner)):
            continue
        remove(path)
        if not path.exists():
            removed.append(path.name)
    return removed
