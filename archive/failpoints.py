"""A test-only crash hook: the process dies (as by kill -9) at a named step.

Active only when both CUSTODY_TESTING=1 and CUSTODY_FAULT=<step> are set, so that tests can
prove every step is safe to die in. Steps: part-upload, upload-completion, lock-confirmation,
catalog-write, ledger-append, migrate-item. CUSTODY_FAULT_AFTER=N lets the step pass N times
first (a migration killed midway).
"""

from __future__ import annotations

import os
import signal

STEPS = ("part-upload", "upload-completion", "lock-confirmation", "catalog-write",
         "ledger-append")
_passed: dict[str, int] = {}


def crash_point(step: str) -> None:
    if os.environ.get("CUSTODY_TESTING") == "1" and os.environ.get("CUSTODY_FAULT") == step:
        _passed[step] = _passed.get(step, 0) + 1
        if _passed[step] > int(os.environ.get("CUSTODY_FAULT_AFTER", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
