"""A ready archive (catalog + store + keys + one registered person) for service tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archive import people
from archive.catalog.base import Catalog
from archive.integrity.signing import Keyring, SigningKey
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.worm.base import WormStore


@dataclass
class Setup:
    archive: Archive
    actor: Actor
    key_dir: Path

    @property
    def catalog(self) -> Catalog:
        return self.archive.catalog

    @property
    def store(self) -> WormStore:
        return self.archive.store


def make_archive(tmp_path: Path, catalog: Catalog, store: WormStore,
                 person_id: str = "P000") -> Setup:
    key_dir = tmp_path / "keys"
    akey = SigningKey.generate(key_dir / "archive.key")
    ring = Keyring()
    ring.add(akey.public)
    archive = Archive(catalog, store, akey, ring)
    archive.publish_key()
    pkey = SigningKey.generate(key_dir / f"person-{person_id}.key")
    people.register(catalog, person_id, "测试管理员", f"acct-{person_id}", ["administrator"],
                    pkey)
    return Setup(archive, Actor(person_id, pkey), key_dir)


def ledger_knows_administrator(archive: Archive, actor: Actor) -> None:
    """Make sure the ledger registers ``actor`` as an administrator, as ``custody init`` does
    for the first one: make_archive registers its administrator in the catalog only, and
    audit verify reads from the ledger who may confirm a passkey."""
    if not any(e.action == "person-registered" and e.subject == actor.person_id
               for e in archive.catalog.ledger_entries()):
        archive.ledger.append(actor, "person-registered", actor.person_id,
                              {"roles": ["administrator"], "key_id": actor.key.key_id})
