"""Letting a test's temporary directory go: the local WORM store sets the immutable attribute
where it can (as root), which nothing but this clears. The archive never calls this."""

from __future__ import annotations

import os
from pathlib import Path

from archive.worm.local import set_immutable


def release_all_for_tests(root: str | os.PathLike) -> None:
    """Clear immutable attributes under ``root`` so a test's temporary directory can go."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            set_immutable(Path(dirpath) / name, False)
