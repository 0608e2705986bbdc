"""Run one ingest in its own process (for crash and concurrency tests).

python -m tests.support.ingest_worker WORKDIR SOCKET ROOT [MANIFEST]
    WORKDIR holds catalog.sqlite, worm/ and keys/ as tests.support.archives.make_archive
    made them.
python -m tests.support.ingest_worker --cli BARRIER [custody arguments...]
    the command line itself (``custody ingest ...``), with every first metadata version held
    back before it is stored until the other station has signed one for the same bytes
    (``signing_barrier``): two stations at once, made certain to race.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import MetadataVersion
from archive.integrity.signing import Keyring, SigningKey
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.worm.local import LocalWormStore
from config import settings
from ingest.pipeline import Ingest
from scanners.clamd import ClamdScanner

BARRIER_TIMEOUT_S = 30.0  # a station that never comes must not hang the test


def signing_barrier(folder: Path, parties: int = 2,
                    timeout: float = BARRIER_TIMEOUT_S) -> Callable[[MetadataVersion], None]:
    """A wait, across processes and threads, that returns once ``parties`` callers have
    reached it for the same bytes. Before it, each station has looked for an item or an
    adoptable signed version of those bytes and found none; after it, each stores its own:
    the window two docking stations at once can fall into, held open."""
    def wait(version: MetadataVersion) -> None:
        if version.version != 1:
            return
        mark = folder / version.digests.sha256
        mark.mkdir(parents=True, exist_ok=True)
        # one mark per station: a station handles each file in one thread of one process
        (mark / f"{os.getpid()}-{threading.get_ident()}").touch()
        deadline = time.monotonic() + timeout
        while len(list(mark.iterdir())) < parties and time.monotonic() < deadline:
            time.sleep(0.01)

    return wait


def hold_signing(archive_class: type[Archive], wait: Callable[[MetadataVersion], None]
                 ) -> None:
    """Every ``store_version`` of this process waits at ``wait`` first."""
    real = archive_class.store_version

    def store_version(self: Archive, version: MetadataVersion, *args: object,
                      **kwargs: object) -> dict:
        wait(version)
        return real(self, version, *args, **kwargs)

    archive_class.store_version = store_version  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--cli":
        from cli import main as custody

        hold_signing(Archive, signing_barrier(Path(argv[1])))
        return custody.main(argv[2:], prog_name="custody", standalone_mode=False) or 0
    work, socket, root = Path(argv[0]), argv[1], Path(argv[2])
    manifest = Path(argv[3]) if len(argv) > 3 else None
    key = SigningKey.load(work / "keys" / "archive.key")
    ring = Keyring()
    ring.add(key.public)
    archive = Archive(SQLiteCatalog(work / "catalog.sqlite"), LocalWormStore(work / "worm"),
                      key, ring)
    actor = Actor("P000", SigningKey.load(work / "keys" / "person-P000.key"))
    s = settings.load(None, home=work / "home")
    report = Ingest(archive, s, ClamdScanner(socket_path=socket), actor).run(root, manifest,
                                                                             "worker")
    archive.finish_command()
    print(json.dumps(report.counts()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
