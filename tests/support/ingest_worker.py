"""Run one ingest in its own process (for crash and concurrency tests).

python -m tests.support.ingest_worker WORKDIR SOCKET ROOT [MANIFEST]
WORKDIR holds catalog.sqlite, worm/ and keys/ as tests.support.archives.make_archive made them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from archive.catalog.sqlite import SQLiteCatalog
from archive.integrity.signing import Keyring, SigningKey
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.worm.local import LocalWormStore
from config import settings
from ingest.pipeline import Ingest
from scanners.clamd import ClamdScanner


def main(argv: list[str]) -> int:
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
