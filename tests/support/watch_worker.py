"""`custody watch` in its own process, held inside its first batch (for the signal test).

python -m tests.support.watch_worker GATE [custody arguments...]
    the command line itself; the first batch touches GATE/in-batch and waits (at most
    HOLD_S) for GATE/release before it ingests: the test signals the process while a batch
    is certainly in progress.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ingest import watch

HOLD_S = 30.0  # a test that never releases must not hang


def hold_first_batch(gate: Path) -> None:
    real = watch.ingest_offload

    def held(*args: object, **kwargs: object) -> dict:
        if not (gate / "in-batch").exists():
            (gate / "in-batch").touch()
            deadline = time.monotonic() + HOLD_S
            while not (gate / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    watch.ingest_offload = held  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    from cli import main as custody

    hold_first_batch(Path(argv[0]))
    return custody.main(argv[1:], prog_name="custody", standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
