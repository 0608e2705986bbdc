"""Letting a test's temporary directory go: the local WORM store sets the immutable attribute
where it can (as root), which nothing but this clears. The archive never calls this."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from archive.worm.local import set_immutable


def release_all_for_tests(root: str | os.PathLike) -> None:
    """Clear immutable attributes under ``root`` so a test's temporary directory can go."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            # only regular files are locked; opening a FIFO a test left would wait forever
            if path.exists() and stat.S_ISREG(os.lstat(path).st_mode):
                set_immutable(path, False)
