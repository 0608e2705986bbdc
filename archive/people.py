"""People and identity: every action is done by a registered person bound to an OS account,
proved by that person's own Ed25519 key (DESIGN.md, Identity)."""

from __future__ import annotations

import functools
import os
import pwd
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from archive import failpoints
from archive.catalog.base import Catalog
from archive.domain.errors import CustodyError, IdentityError, InputError, NotFound
from archive.domain.model import CONFIDENTIAL_CLASSES, ROLES, Person, iso
from archive.domain.names import role_choice
from archive.integrity.signing import (
    Keyring,
    SigningKey,
    fingerprint,
    load_public_pem,
    public_pem,
)
from archive.ledger.chain import Actor
from config.settings import APPROVER_ROLES
from i18n import N_, Text, localize, localize_in


def os_account() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def test_keyring_dir() -> Path | None:
    """Where every person's key is held in one folder (tests, the demo): a test seam."""
    return failpoints.held_keys_dir()


def personal_key_path(person_id: str, home: Path | None = None) -> Path:
    """The private key lives in the person's own home, readable by them alone."""
    held = test_keyring_dir()
    if held is not None:
        return held / f"person-{person_id}.key"
    base = home or Path(os.environ.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir)
    return base / ".config" / "custody" / f"person-{person_id}.key"


def home_of(account: str) -> Path:
    try:
        return Path(pwd.getpwnam(account).pw_dir)
    except KeyError as exc:
        raise InputError(N_("no OS account {account!r} on this machine"), subject=account,
                         account=account) from exc


def create_personal_key(person_id: str, account: str) -> SigningKey:
    """A new key in the person's own home (owned by them, mode 0600)."""
    if test_keyring_dir() is not None or account == os_account():
        return SigningKey.generate(personal_key_path(person_id))
    home = home_of(account)
    path = personal_key_path(person_id, home)
    key = SigningKey.generate(path)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(account)
        for p in (path, path.parent, path.parent.parent):
            os.chown(p, entry.pw_uid, entry.pw_gid)
    return key


POSITIONS = APPROVER_ROLES  # the approving positions a unit may name (法制股, 分管领导, ...)


def check_grants(clearances: list[str], positions: list[str]) -> None:
    bad = [c for c in clearances if c not in CONFIDENTIAL_CLASSES]
    if bad:
        raise InputError(N_("unknown clearances: {unknown}; choose from {choices}"),
                         unknown=", ".join(bad), choices=", ".join(CONFIDENTIAL_CLASSES))
    bad = [p for p in positions if p not in POSITIONS]
    if bad:
        raise InputError(N_("unknown positions: {unknown}; choose from {choices}"),
                         unknown=", ".join(bad), choices=", ".join(POSITIONS))


def register(catalog: Catalog, person_id: str, name: str, account: str | None,
             roles: list[str], key: SigningKey | None, units: list[str] | None = None,
             clearances: list[str] | None = None,
             positions: list[str] | None = None) -> Person:
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InputError(N_("unknown roles: {unknown}; choose from {choices}"),
                         unknown=", ".join(bad), choices=", ".join(ROLES))
    check_grants(list(clearances or []), list(positions or []))
    if catalog.get_record("people", person_id) is not None:
        raise InputError(N_("person {person} already exists"), subject=person_id,
                         person=person_id)
    if account and catalog.list_records("people", os_account=account):
        raise InputError(N_("OS account {account} is already bound to a person"),
                         subject=account, account=account)
    person = Person(id=person_id, name=name, os_account=account, roles=list(roles),
                    units=list(units or []), clearances=list(clearances or []),
                    positions=list(positions or []),
                    public_keys=[{"key_id": key.key_id, "public_key": public_pem(key.public),
                                  "from": iso(datetime.now(timezone.utc))}] if key else [])
    catalog.put_record("people", person_id, person.to_dict())
    return person


def require_role(catalog: Catalog, actor: Actor, roles: tuple[str, ...],
                 what: str | Text) -> Person:
    """Refuse (and say who may) unless the acting person holds one of ``roles``. ``what``
    is the action in words, marked for the catalogs (``N_("close a case")``) or a ``Text``."""
    person = Person.from_dict(catalog.get_record("people", actor.person_id) or {})
    if not set(person.roles) & set(roles):
        raise IdentityError(N_("{person} may not {action}: it takes the role {roles}"),
                            subject=person.id, person=person.id,
                            action=what if isinstance(what, Text) else Text(what),
                            roles=role_choice(roles))
    return person


def grant(catalog: Catalog, person_id: str, clearances: list[str], positions: list[str],
          revoke: bool = False) -> Person:
    """Add (or with ``revoke`` take away) confidential clearances and approving positions."""
    check_grants(clearances, positions)
    doc = catalog.get_record("people", person_id)
    if doc is None:
        raise NotFound(N_("no person {person!r}"), subject=person_id, person=person_id)
    person = Person.from_dict(doc)
    for attr, values in (("clearances", clearances), ("positions", positions)):
        held = getattr(person, attr)
        if revoke:
            setattr(person, attr, [v for v in held if v not in values])
        else:
            setattr(person, attr, held + [v for v in values if v not in held])
    catalog.put_record("people", person_id, person.to_dict())
    return person


def person_of(catalog: Catalog, person_id: str) -> Person | None:
    doc = catalog.get_record("people", person_id)
    return Person.from_dict(doc) if doc else None


def people_names(catalog: Catalog, ids: set[str] | list[str]) -> dict[str, str]:
    """person id -> registered name, for the ids that are registered (an unregistered id
    stays an id wherever it is shown)."""
    out = {}
    for pid in ids:
        person = person_of(catalog, pid)
        if person is not None and person.name:
            out[pid] = person.name
    return out


def set_enabled(catalog: Catalog, person_id: str, enabled: bool) -> Person:
    doc = catalog.get_record("people", person_id)
    if doc is None:
        raise NotFound(N_("no person {person!r}"), subject=person_id, person=person_id)
    doc["enabled"] = enabled
    catalog.put_record("people", person_id, doc)
    return Person.from_dict(doc)


def rekey(catalog: Catalog, person_id: str) -> SigningKey:
    """A new key for a person; their old public keys stay, so old signatures verify."""
    doc = catalog.get_record("people", person_id)
    if doc is None:
        raise NotFound(N_("no person {person!r}"), subject=person_id, person=person_id)
    if not doc.get("os_account"):
        raise InputError(N_("{person} has no OS account here and signs with a passkey: "
                            "invite them to enroll a new one"), subject=person_id,
                         person=person_id)
    path = personal_key_path(person_id, None if test_keyring_dir() else
                             home_of(doc["os_account"]))
    if path.exists():
        path.rename(path.with_name(path.name + f".retired-{len(doc['public_keys'])}"))
    key = create_personal_key(person_id, doc["os_account"])
    doc["public_keys"].append({"key_id": key.key_id, "public_key": public_pem(key.public),
                               "from": iso(datetime.now(timezone.utc))})
    catalog.put_record("people", person_id, doc)
    return key


SYSTEM_ACTOR = "custody"  # entries the archive itself signs with its key (see record_refusal)


def person_keyrings(catalog: Catalog, archive_keys: Keyring | None = None
                    ) -> dict[str, Keyring]:
    """Every person's registered public keys (old ones too), by person; the archive's keys
    for the entries the archive signs itself."""
    rings: dict[str, Keyring] = {}
    for doc in catalog.list_records("people"):
        ring = rings.setdefault(doc["id"], Keyring())
        for k in doc.get("public_keys", []):
            ring.add(load_public_pem(k["public_key"]))
    if archive_keys is not None:
        rings[SYSTEM_ACTOR] = archive_keys
    return rings


def people_keyring(catalog: Catalog) -> Keyring:
    """Every public key any person ever registered (old keys verify old signatures)."""
    ring = Keyring()
    for doc in catalog.list_records("people"):
        for k in doc.get("public_keys", []):
            ring.add(load_public_pem(k["public_key"]))
    return ring


def signing_ring(catalog: Catalog, person_id: str) -> Keyring:
    """The keys a record signed for ``person_id`` may verify under: their own Ed25519 keys,
    and — when they sign at the web console with a confirmed passkey — the console's
    registered keys. The console signs such records on the person's behalf; what proves the
    person is the passkey assertion in the ledger entry of the same act, which
    ``audit verify`` checks (archive.passkeys.evidence)."""
    ring = Keyring()
    doc = catalog.get_record("people", person_id) or {}
    for k in doc.get("public_keys", []):
        ring.add(load_public_pem(k["public_key"]))
    if any(r.get("person") == person_id and r.get("confirmed_seq")  # revoked later too
           for r in catalog.list_records("meta", kind="passkey")):
        for r in catalog.list_records("meta", kind="console-key"):
            ring.add(load_public_pem(r["public_key"]))
    return ring


def acting_person(catalog: Catalog, home: Path | None = None) -> Actor:
    """The person bound to this OS account, with their key; refused otherwise."""
    account = os_account()
    found = catalog.list_records("people", os_account=account)
    act_as = failpoints.acting_as()
    if act_as:
        doc = catalog.get_record("people", act_as)
        found = [doc] if doc else []
        account = act_as
    if not found:
        raise IdentityError(N_("OS account {account!r} is not a registered person; "
                               "an administrator must add it first"), subject=account,
                            account=account)
    person = Person.from_dict(found[0])
    if not person.enabled:
        raise IdentityError(N_("person {person} ({account}) is disabled"), subject=person.id,
                            person=person.id, account=account)
    path = personal_key_path(person.id, home)
    try:
        key = SigningKey.load(path)
    except NotFound as exc:
        raise IdentityError(N_("person {person}: no private key at {path}"),
                            subject=person.id, person=person.id, path=str(path)) from exc
    current = person.public_keys[-1]["key_id"] if person.public_keys else None
    if key.key_id != current:
        raise IdentityError(N_("person {person}: the key at {path} is not their registered "
                               "key"), subject=person.id, person=person.id, path=str(path))
    return Actor(person.id, key)


# --- refusals ---------------------------------------------------------------------------------
def record_refusal(archive: Any, actor: Actor | None, action: str, exc: CustodyError,
                   account: str | None = None) -> None:
    """An action refused for who is acting is recorded: who (the person, or the OS account
    nobody registered), what, and why, in the ledger and the access register. Signed by the
    person when they were identified, else by the archive itself. Best effort: the refusal
    stands whether or not it can be written, and it is written once however many services it
    passes through."""
    if getattr(exc, "recorded", False):
        return
    from archive.domain.ids import uuid7

    try:
        signer = actor or Actor(SYSTEM_ACTOR, archive.key)
        who = actor.person_id if actor else f"OS:{account or os_account()}"
        entry = archive.ledger.append(signer, "refused", exc.subject or action, {
            "attempted": action, "reason": exc.message, "by": who})
        archive.catalog.put_record("access_register", uuid7(), {
            "kind": "refusal", "at": entry.at, "person": who, "action": action,
            "subject": exc.subject or "-", "reason": exc.message,
            "text": localize(exc), "text_zh": localize_in("zh_CN", exc), "details": {},
            "ledger_seq": entry.seq})
        exc.recorded = True
    except Exception:  # noqa: BLE001 - the original refusal is what the person must see
        pass


F = TypeVar("F", bound=Callable[..., Any])


def records_refusals(action: str) -> Callable[[F], F]:
    """Wrap a service entry point that takes ``(archive or engine, actor, ...)``: a refusal
    for who is acting (IdentityError) is recorded before it reaches whichever face called."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except IdentityError as exc:
                holder = args[0]
                archive = getattr(holder, "archive", holder)
                actor = kwargs.get("actor") or next(
                    (a for a in args[1:] if isinstance(a, Actor)), None)
                record_refusal(archive, actor, action, exc)
                raise

        return run  # type: ignore[return-value]

    return wrap


def identify(archive: Any, action: str = "sign-in", home: Path | None = None) -> Actor:
    """The person acting at this OS account (the command line's sign-in) for ``action``; an
    account nobody registered, a disabled person or a key that is not theirs is refused, and
    the refusal recorded naming the action attempted."""
    try:
        return acting_person(archive.catalog, home)
    except IdentityError as exc:
        record_refusal(archive, None, action, exc,
                       account=failpoints.acting_as() or os_account())
        raise


# --- services: what every face calls -----------------------------------------------------------
ADMINISTRATORS = ("administrator",)


def _check_new_person(catalog: Catalog, person_id: str, account: str | None, roles: list[str],
                      clearances: list[str], positions: list[str]) -> None:
    """Everything ``register`` refuses, asked before a key is made in anybody's home."""
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InputError(N_("unknown roles: {unknown}; choose from {choices}"),
                         unknown=", ".join(bad), choices=", ".join(ROLES))
    check_grants(clearances, positions)
    if catalog.get_record("people", person_id) is not None:
        raise InputError(N_("person {person} already exists"), subject=person_id,
                         person=person_id)
    if account and catalog.list_records("people", os_account=account):
        raise InputError(N_("OS account {account} is already bound to a person"),
                         subject=account, account=account)


@records_refusals("people add")
def add_person(archive: Any, actor: Actor, person_id: str, name: str, account: str | None,
               roles: list[str], units: list[str] | None = None,
               clearances: list[str] | None = None,
               positions: list[str] | None = None) -> dict:
    """Register a person bound to an OS account, with a new key in their own home
    (administrators only); the person as registered, and where their key is. Without an
    account (``None``): a person of the web console only, with no key here."""
    require_role(archive.catalog, actor, ADMINISTRATORS, N_("add people"))
    roles, units = list(roles), list(units or [])
    clearances, positions = list(clearances or []), list(positions or [])
    _check_new_person(archive.catalog, person_id, account, roles, clearances, positions)
    # a person of the web console only (a leader) has no OS account here, so no key either:
    # they sign with their passkey (archive.passkeys)
    key = create_personal_key(person_id, account) if account else None
    person = register(archive.catalog, person_id, name, account, roles, key, units,
                      clearances, positions)
    archive.ledger.append(actor, "person-registered", person_id,
                          {"roles": roles, "os_account": account,
                           "key_id": key.key_id if key else None,
                           "clearances": clearances, "positions": positions})
    return person.to_dict() | ({"key_file": str(key.path)} if key else {})


def list_people(catalog: Catalog) -> list[dict]:
    """Everybody registered, one row each (no keys, only how many)."""
    return [{k: d[k] for k in ("id", "name", "os_account", "roles", "units", "enabled")}
            | {"keys": len(d["public_keys"]), "clearances": d.get("clearances", []),
               "positions": d.get("positions", [])} for d in catalog.list_records("people")]


# each change as the refusal of a person who may not make it names it
_CHANGE_ACTIONS = {"disable": N_("disable people"), "enable": N_("enable people"),
                   "rekey": N_("rekey people")}


def _change(archive: Any, actor: Actor, person_id: str, action: str) -> dict:
    catalog = archive.catalog
    require_role(catalog, actor, ADMINISTRATORS, _CHANGE_ACTIONS[action])
    if action == "rekey":
        detail = {"key_id": rekey(catalog, person_id).key_id}
    else:
        if person_id == actor.person_id:
            raise InputError(N_("nobody disables themselves"))
        set_enabled(catalog, person_id, action == "enable")
        detail = {}
    archive.ledger.append(actor, f"person-{action}", person_id, detail)
    return {"person": person_id, "action": action} | detail


@records_refusals("people disable")
def disable_person(archive: Any, actor: Actor, person_id: str) -> dict:
    """Refuse every action of a person from now on (administrators only)."""
    return _change(archive, actor, person_id, "disable")


@records_refusals("people enable")
def enable_person(archive: Any, actor: Actor, person_id: str) -> dict:
    """Let a disabled person act again (administrators only)."""
    return _change(archive, actor, person_id, "enable")


@records_refusals("people rekey")
def rekey_person(archive: Any, actor: Actor, person_id: str) -> dict:
    """A new key for a person; their old signatures keep verifying (administrators only)."""
    return _change(archive, actor, person_id, "rekey")


CHANGES = {"disable": disable_person, "enable": enable_person, "rekey": rekey_person}


def change_person(archive: Any, actor: Actor, person_id: str, action: str) -> dict:
    """``action``: disable, enable or rekey."""
    if action not in CHANGES:
        raise InputError(N_("action must be one of {choices}"), choices=", ".join(CHANGES))
    return CHANGES[action](archive, actor, person_id)


def _grant(archive: Any, actor: Actor, person_id: str, clearances: list[str],
           positions: list[str], revoke: bool) -> dict:
    if not clearances and not positions:
        raise InputError(N_("name a --clearance or a --position"))
    what = "revoke" if revoke else "grant"
    require_role(archive.catalog, actor, ADMINISTRATORS,
                 N_("revoke clearances") if revoke else N_("grant clearances"))
    person = grant(archive.catalog, person_id, list(clearances), list(positions), revoke)
    archive.ledger.append(actor, f"person-{what}", person_id,
                          {"clearances": list(clearances), "positions": list(positions)})
    return {"person": person_id, "clearances": person.clearances,
            "positions": person.positions}


@records_refusals("people grant")
def grant_person(archive: Any, actor: Actor, person_id: str, clearances: list[str],
                 positions: list[str]) -> dict:
    """Give a person confidential clearances or approving positions (administrators only)."""
    return _grant(archive, actor, person_id, clearances, positions, False)


@records_refusals("people revoke")
def revoke_person(archive: Any, actor: Actor, person_id: str, clearances: list[str],
                  positions: list[str]) -> dict:
    """Take clearances or approving positions away (administrators only)."""
    return _grant(archive, actor, person_id, clearances, positions, True)


def change_grants(archive: Any, actor: Actor, person_id: str, clearances: list[str],
                  positions: list[str], revoke: bool = False) -> dict:
    """Grant, or with ``revoke`` take away, clearances and positions."""
    return (revoke_person if revoke else grant_person)(archive, actor, person_id,
                                                       clearances, positions)


def first_administrator(archive: Any, person_id: str, name: str) -> Actor:
    """init: the person this OS account is bound to; the first time, a new administrator
    bound to it (with the key already in its place, or a new one)."""
    account = os_account()
    if archive.catalog.list_records("people", os_account=account):
        return identify(archive)
    path = personal_key_path(person_id)
    key = SigningKey.load(path) if path.exists() else create_personal_key(person_id, account)
    register(archive.catalog, person_id, name, account, ["administrator"], key)
    actor = Actor(person_id, key)
    archive.ledger.append(actor, "person-registered", person_id,
                          {"roles": ["administrator"], "os_account": account,
                           "key_id": key.key_id})
    return actor


def list_archive_keys(archive: Any) -> list[dict]:
    """Every archive public key: the current one and those retired by rotation."""
    return [{"key_id": k, "fingerprint": fingerprint(k), "current": k == archive.key.key_id}
            for k in archive.archive_keys.key_ids()]
