"""A test-only crash hook: the process dies (as by kill -9) at a named step.

Active only when both CUSTODY_TESTING=1 and CUSTODY_FAULT=<step> are set, so that tests can
prove every step is safe to die in. Steps: part-upload, upload-completion, lock-confirmation,
catalog-write, ledger-append.
"""

from __future__ import annotations

import os
import signal

STEPS = ("part-upload", "upload-completion", "lock-confirmation", "catalog-write",
         "ledger-append")


def crash_point(step: str) -> None:
    if os.environ.get("CUSTODY_TESTING") == "1" and os.environ.get("CUSTODY_FAULT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
