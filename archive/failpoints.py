"""Test seams, and nothing else: named failpoints where a process dies as by kill -9 (as etcd's
gofail or TiKV's fail-rs), and the held-keys folder tests and the demo act from.

Every seam is inert unless CUSTODY_TESTING=1 is set:
- CUSTODY_FAULT=<step> kills the process at that step (STEPS); CUSTODY_FAULT_AFTER=N lets it
  pass N times first (a migration killed midway). Tests prove every step is safe to die in.
- CUSTODY_TEST_PEOPLE_DIR holds everybody's personal keys in one folder and CUSTODY_ACT_AS
  says who acts; it gives nobody a key they do not already hold, since every action is still
  signed with the acting person's own key.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

STEPS = ("part-upload", "upload-completion", "lock-confirmation", "catalog-write",
         "ledger-append", "migrate-item")
_passed: dict[str, int] = {}


def _testing() -> bool:
    return os.environ.get("CUSTODY_TESTING") == "1"


def crash_point(step: str) -> None:
    if _testing() and os.environ.get("CUSTODY_FAULT") == step:
        _passed[step] = _passed.get(step, 0) + 1
        if _passed[step] > int(os.environ.get("CUSTODY_FAULT_AFTER", "0")):
            os.kill(os.getpid(), signal.SIGKILL)


def held_keys_dir() -> Path | None:
    """The folder holding everybody's keys (tests, the demo), or None."""
    if _testing() and os.environ.get("CUSTODY_TEST_PEOPLE_DIR"):
        return Path(os.environ["CUSTODY_TEST_PEOPLE_DIR"])
    return None


def acting_as() -> str | None:
    """Who acts, where the keys are held in one folder; None otherwise."""
    if held_keys_dir() is not None:
        return os.environ.get("CUSTODY_ACT_AS") or None
    return None
