"""People and identity: every action is done by a registered person bound to an OS account,
proved by that person's own Ed25519 key (DESIGN.md, Identity)."""

from __future__ import annotations

import os
import pwd
from datetime import datetime, timezone
from pathlib import Path

from .catalog.base import Catalog
from .errors import IdentityError, InputError, NotFound
from .ledger import Actor
from .model import Person, iso
from .signing import Keyring, SigningKey, load_public_pem, public_pem

ROLES = ("officer", "assisting", "archivist", "auditor", "approver", "legal", "administrator")


def os_account() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def personal_key_path(person_id: str, home: Path | None = None) -> Path:
    """The private key lives in the person's own home, readable by them alone."""
    base = home or Path(os.environ.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir)
    return base / ".config" / "custody" / f"person-{person_id}.key"


def register(catalog: Catalog, person_id: str, name: str, account: str, roles: list[str],
             key: SigningKey, units: list[str] | None = None) -> Person:
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InputError(f"unknown roles: {', '.join(bad)}; choose from {', '.join(ROLES)}")
    if catalog.get_record("people", person_id) is not None:
        raise InputError(f"person {person_id} already exists", subject=person_id)
    if catalog.list_records("people", os_account=account):
        raise InputError(f"OS account {account} is already bound to a person", subject=account)
    person = Person(id=person_id, name=name, os_account=account, roles=list(roles),
                    units=list(units or []),
                    public_keys=[{"key_id": key.key_id, "public_key": public_pem(key.public),
                                  "from": iso(datetime.now(timezone.utc))}])
    catalog.put_record("people", person_id, person.to_dict())
    return person


def people_keyring(catalog: Catalog) -> Keyring:
    """Every public key any person ever registered (old keys verify old signatures)."""
    ring = Keyring()
    for doc in catalog.list_records("people"):
        for k in doc.get("public_keys", []):
            ring.add(load_public_pem(k["public_key"]))
    return ring


def acting_person(catalog: Catalog, home: Path | None = None) -> Actor:
    """The person bound to this OS account, with their key; refused otherwise."""
    account = os_account()
    found = catalog.list_records("people", os_account=account)
    if not found:
        raise IdentityError(f"OS account {account!r} is not a registered person; "
                            "an administrator must add it first", subject=account)
    person = Person.from_dict(found[0])
    if not person.enabled:
        raise IdentityError(f"person {person.id} ({account}) is disabled", subject=person.id)
    path = personal_key_path(person.id, home)
    try:
        key = SigningKey.load(path)
    except NotFound as exc:
        raise IdentityError(f"person {person.id}: no private key at {path}",
                            subject=person.id) from exc
    current = person.public_keys[-1]["key_id"] if person.public_keys else None
    if key.key_id != current:
        raise IdentityError(f"person {person.id}: the key at {path} is not their registered "
                            "key", subject=person.id)
    return Actor(person.id, key)
