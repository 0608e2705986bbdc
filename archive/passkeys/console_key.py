"""The console's own Ed25519 key: it signs what the web console records (sign-ins, searches,
views, downloads, and the entries that carry a person's passkey-signed decision).

It lives in the data home (``<home>/keys/console.key``, mode 0600, readable by the console's
service account) and is registered to the archive as a station key is: its public key in the
WORM store (``keys/console/``), its registration in the catalog (collection ``meta``, kind
``console-key``: journaled, so a rebuild and a migration carry it) and in the ledger
(``console-key-registered``, signed by the archive key, with the public key itself, so that
``audit verify`` knows it from the ledger alone).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from archive.domain.errors import InputError
from archive.domain.model import iso
from archive.integrity.signing import SigningKey, fingerprint, public_pem
from archive.ledger.chain import Actor
from archive.passkeys.evidence import ARCHIVE_ACTOR, CONSOLE_KEY_REGISTERED

KIND = "console-key"
PREFIX = "keys/console/"
FILE = "console.key"


def key_path(home: Path) -> Path:
    return Path(home) / "keys" / FILE


def _hex(key_id: str) -> str:
    return key_id.split(":", 1)[-1]


def registration(catalog: Any, key_id: str) -> dict | None:
    return catalog.get_record("meta", f"{KIND}:{_hex(key_id)}")


def load(archive: Any, home: Path) -> SigningKey:
    """This home's console key, made and registered the first time."""
    path = key_path(home)
    try:
        key = SigningKey.load(path) if path.exists() else SigningKey.generate(path)
    except InputError:
        if not path.exists():
            raise
        key = SigningKey.load(path)  # another worker of the console made it a moment ago
    if registration(archive.catalog, key.key_id) is None:
        register(archive, key)
    return key


def register(archive: Any, key: SigningKey) -> dict:
    """Publish the console key in the store, and record it in the catalog and the ledger."""
    pem = public_pem(key.public)
    blob = f"{PREFIX}{_hex(key.key_id)}.pem"
    if not archive.store.versions(blob):
        until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(
            days=366 * archive.checkpoint_years)
        archive.store.put_blob(blob, pem.encode(), until)
    doc = {"kind": KIND, "key_id": key.key_id, "fingerprint": fingerprint(key.key_id),
           "public_key": pem, "station": archive.ledger.station,
           "from": iso(datetime.now(timezone.utc)), "store_key": blob}
    archive.catalog.put_record("meta", f"{KIND}:{_hex(key.key_id)}", doc)
    archive.ledger.append(Actor(ARCHIVE_ACTOR, archive.key), CONSOLE_KEY_REGISTERED,
                          key.key_id, {"public_key": pem, "fingerprint": doc["fingerprint"]})
    return doc
