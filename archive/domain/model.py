"""The domain: what an object, an item, a metadata version and a ledger entry are.

Plain Python, no I/O. Times are timezone-aware datetimes; the catalog stores them in UTC.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from archive.domain.canonical import canonical
from archive.domain.errors import InputError
from i18n import N_

KINDS = ("video", "audio", "photo", "document", "data")
RECORD_FORMS = ("文字记录", "音像记录", "电子数据")
ACTIVITY_TYPES = (
    "日常巡查", "调查取证", "询问", "送达", "听证", "行政强制", "现场勘验",
    "先行登记保存", "扣押", "查封", "强制拆除", "罚没", "投诉处置", "其他",
)
TIERS = ("routine", "case", "permanent")
STATUSES = ("archived", "pending-metadata", "attention", "disposed")
ROLES = ("officer", "assisting", "archivist", "auditor", "approver", "legal", "administrator")
CONFIDENTIAL_CLASSES = ("state-secret", "commercial-secret", "personal-privacy")

# The keys of the catalog that search and reports can use (DESIGN.md 第十六条 plus the rest).
SEARCH_KEYS = (
    "unit", "device_id", "officer", "party", "cause", "case_id",
    "tier", "kind", "activity_type", "activity_id", "status",
)
GROUP_KEYS = ("unit", "device_id", "officer", "case_id", "tier", "kind",
              "activity_type", "activity_id", "status", "party", "cause")

_RECORD_FORM_OF_KIND = {"video": "音像记录", "audio": "音像记录", "photo": "音像记录",
                        "document": "文字记录", "data": "电子数据"}


def utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise InputError(N_("time {time} has no zone"), time=dt.isoformat())
    return dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is not timezone.utc:  # most are UTC already: no conversion per field
        dt = utc(dt)
    return dt.isoformat().replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return utc(dt)


@functools.cache
def _description_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Description))


@dataclass(frozen=True)
class Digests:
    """Size and the two digests of one byte stream."""

    size: int
    sha256: str
    sm3: str

    def to_dict(self) -> dict:
        return {"size": self.size, "sha256": self.sha256, "sm3": self.sm3}

    @classmethod
    def from_dict(cls, d: dict) -> Digests:
        return cls(size=int(d["size"]), sha256=d["sha256"], sm3=d["sm3"])


@dataclass(frozen=True)
class Lock:
    """The protection the WORM store reports for one stored version."""

    mode: str | None  # "COMPLIANCE" (S3) or "LOCAL-WORM"; None: no retention at all
    retain_until: datetime | None
    legal_hold: bool
    protection: dict = field(default_factory=dict)

    def covers(self, retain_until: datetime | None, legal_hold: bool) -> bool:
        """True when this lock is at least as strong as the one asked for."""
        if legal_hold and not self.legal_hold:
            return False
        if retain_until is None:
            return True
        return self.retain_until is not None and self.retain_until >= retain_until

    def to_dict(self) -> dict:
        return {"mode": self.mode, "retain_until": iso(self.retain_until),
                "legal_hold": self.legal_hold, "protection": dict(self.protection)}


@dataclass(frozen=True)
class StoredVersion:
    backend: str
    location: str  # bucket or directory
    key: str
    version_id: str
    size: int
    lock: Lock

    def to_dict(self) -> dict:
        return {"backend": self.backend, "location": self.location, "key": self.key,
                "version_id": self.version_id, "size": self.size, "lock": self.lock.to_dict()}


@dataclass
class ObjectRecord:
    """Bytes, content-addressed by SHA-256, stored once."""

    digests: Digests
    storage: StoredVersion
    created_at: datetime

    @property
    def sha256(self) -> str:
        return self.digests.sha256

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "digests": self.digests.to_dict(),
                "storage": self.storage.to_dict(), "created_at": iso(self.created_at)}

    @classmethod
    def from_dict(cls, d: dict) -> ObjectRecord:
        s = d["storage"]
        lk = s["lock"]
        lock = Lock(lk["mode"], parse_iso(lk["retain_until"]), bool(lk["legal_hold"]),
                    lk.get("protection", {}))
        return cls(Digests.from_dict(d["digests"]),
                   StoredVersion(s["backend"], s["location"], s["key"], s["version_id"],
                                 int(s["size"]), lock),
                   parse_iso(d["created_at"]))


def _check_text(value: object, where: str) -> None:
    """Every string must be real Unicode: a file name decoded with surrogate escapes (not
    UTF-8 on disk) would make the signed JSON unencodable. Callers record such names with
    ``safe_name`` instead."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(N_("{where}: {value!r} is not valid Unicode text (a non-UTF-8 "
                                "name?)"), where=where, value=value) from exc
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, where)
            _check_text(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for v in value:
            _check_text(v, where)


def safe_name(name: str | bytes) -> dict:
    """A file name as text people can read, plus its exact bytes when it was not UTF-8."""
    # as os.fsencode on POSIX: undecodable bytes came in as surrogate escapes
    raw = name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")
    try:
        return {"name": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"name": raw.decode("utf-8", "backslashreplace"), "name_bytes_hex": raw.hex()}


@dataclass
class Description:
    """What a person declares about a recording or document: the signed, versioned part."""

    kind: str
    unit: str | None = None
    device_id: str | None = None
    officers: list[str] = field(default_factory=list)
    assisting: list[str] = field(default_factory=list)
    recorded_start: datetime | None = None
    recorded_end: datetime | None = None
    offloaded_at: datetime | None = None
    party: str | None = None
    cause: str | None = None
    case_id: str | None = None
    activity_id: str | None = None
    activity_type: str | None = None
    record_form: str | None = None
    source: dict = field(default_factory=dict)
    confidential: str | None = None
    important: bool = False
    note: str | None = None
    extra: dict = field(default_factory=dict)
    # the 题名 (archive/domain/titles.py): given by a person, or composed from the fields above
    # (``title_composed``); both are left out of the signed JSON while unset, so versions
    # signed before titles existed verify as they were signed
    title: str | None = None
    title_composed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(N_("kind {kind!r} is not one of {choices}"), kind=self.kind,
                             choices=", ".join(KINDS))
        if self.record_form is None:
            self.record_form = _RECORD_FORM_OF_KIND[self.kind]
        elif self.record_form not in RECORD_FORMS:
            raise InputError(N_("record form {form!r} is not one of {choices}"),
                             form=self.record_form, choices=", ".join(RECORD_FORMS))
        if self.activity_type is not None and self.activity_type not in ACTIVITY_TYPES:
            raise InputError(N_("activity type {activity_type!r} is not one of {choices}"),
                             activity_type=self.activity_type, choices=", ".join(ACTIVITY_TYPES))
        if self.confidential is not None and self.confidential not in CONFIDENTIAL_CLASSES:
            raise InputError(N_("confidential class {confidential!r} is not one of {choices}"),
                             confidential=self.confidential,
                             choices=", ".join(CONFIDENTIAL_CLASSES))
        for name in ("recorded_start", "recorded_end", "offloaded_at"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, utc(v))
        if (self.recorded_start and self.recorded_end
                and self.recorded_end < self.recorded_start):
            raise InputError(N_("recorded_end is before recorded_start"))
        self.officers = list(self.officers)
        self.assisting = list(self.assisting)
        _check_text(self.to_dict(), "metadata")


    def missing(self) -> list[str]:
        """Required metadata that is absent (第十六条: unit, device, officer, time)."""
        need = ["unit"]
        if self.kind in ("video", "audio", "photo"):
            need += ["device_id", "officers", "recorded_start", "recorded_end"]
        return [n for n in need if not getattr(self, n)]

    def to_dict(self) -> dict:
        # shallow copies, not dataclasses.asdict: this runs for every row a search returns
        d = {name: getattr(self, name) for name in _description_fields()}
        for name in ("officers", "assisting"):
            d[name] = list(d[name])
        for name in ("source", "extra"):
            d[name] = dict(d[name])
        for name in ("recorded_start", "recorded_end", "offloaded_at"):
            d[name] = iso(d[name])
        if d["title"] is None:
            del d["title"]
        if not d["title_composed"]:
            del d["title_composed"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Description:
        d = dict(d)
        for name in ("recorded_start", "recorded_end", "offloaded_at"):
            d[name] = parse_iso(d.get(name))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(N_("unknown metadata fields: {fields}"),
                             fields=", ".join(sorted(unknown)))
        return cls(**d)


@dataclass
class MetadataVersion:
    """One signed version of an item's description, bound to its object's digests."""

    item_id: str
    version: int
    description: Description
    digests: Digests
    created_at: datetime
    created_by: str
    reason: str
    key_id: str = ""
    signature: str = ""

    def manifest(self) -> dict:
        """The content that is signed (canonical JSON of this)."""
        return {
            "type": "custody.item-metadata",
            "item_id": self.item_id,
            "version": self.version,
            "description": self.description.to_dict(),
            "object": self.digests.to_dict(),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "reason": self.reason,
        }

    def to_dict(self) -> dict:
        return {"manifest": self.manifest(), "key_id": self.key_id, "signature": self.signature}

    @classmethod
    def from_dict(cls, d: dict) -> MetadataVersion:
        m = d["manifest"]
        return cls(item_id=m["item_id"], version=int(m["version"]),
                   description=Description.from_dict(m["description"]),
                   digests=Digests.from_dict(m["object"]),
                   created_at=parse_iso(m["created_at"]), created_by=m["created_by"],
                   reason=m["reason"], key_id=d.get("key_id", ""),
                   signature=d.get("signature", ""))


@dataclass
class Item:
    """One recording or document as the catalog describes it; points at one object."""

    id: str
    sha256: str
    current: MetadataVersion
    ingested_at: datetime
    status: str = "archived"
    tier: str = "routine"
    retain_until: datetime | None = None
    legal_hold: bool = False
    storage: dict = field(default_factory=dict)  # where the object and its manifest live
    checks: dict = field(default_factory=dict)
    retention: dict = field(default_factory=dict)  # reasons, holds: owned by retention/
    events: list[dict] = field(default_factory=list)
    dedupe: str | None = None  # see dedupe_key: one item per bytes + description

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InputError(N_("status {status!r} is not one of {choices}"), status=self.status,
                             choices=", ".join(STATUSES))
        if self.tier not in TIERS:
            raise InputError(N_("tier {tier!r} is not one of {choices}"), tier=self.tier,
                             choices=", ".join(TIERS))

    @property
    def description(self) -> Description:
        return self.current.description

    @property
    def version(self) -> int:
        return self.current.version

    def _state(self) -> dict:
        return {"id": self.id, "sha256": self.sha256, "status": self.status,
                "ingested_at": iso(self.ingested_at), "tier": self.tier,
                "retain_until": iso(self.retain_until), "legal_hold": self.legal_hold,
                "storage": self.storage, "checks": self.checks, "retention": self.retention,
                "events": self.events, "dedupe": self.dedupe}

    def to_dict(self) -> dict:
        return self._state() | {
            "version": self.version, "description": self.description.to_dict(),
            "metadata_signature": {"key_id": self.current.key_id,
                                   "signature": self.current.signature}}

    def to_record(self) -> dict:
        """Everything the catalog keeps, round-trippable through ``from_record``: the
        current version once."""
        return self._state() | {"current": self.current.to_dict()}

    @classmethod
    def from_record(cls, d: dict) -> Item:
        return cls(id=d["id"], sha256=d["sha256"],
                   current=MetadataVersion.from_dict(d["current"]),
                   ingested_at=parse_iso(d["ingested_at"]), status=d["status"],
                   tier=d["tier"], retain_until=parse_iso(d["retain_until"]),
                   legal_hold=bool(d["legal_hold"]), storage=d.get("storage", {}),
                   checks=d.get("checks", {}), retention=d.get("retention", {}),
                   events=list(d.get("events", [])), dedupe=d.get("dedupe"))


def status_after_version(description: Description, previous: str | None,
                         checks: dict | None) -> str:
    """An item's status once a metadata version is its current one: what the bytes showed at
    ingest (findings, attention) outlives any description; only missing metadata comes
    first, since the item must stay in the queue to be completed."""
    if description.missing():
        return "pending-metadata"
    if previous == "attention" or (checks or {}).get("findings"):
        return "attention"
    return "archived"


def dedupe_key(sha256: str, description: Description) -> str:
    """The same bytes offloaded twice with the same metadata are one item: this key names
    that pair. Where and when the copy came from (source, offload time) do not count."""
    d = description.to_dict()
    d.pop("source", None)
    d.pop("offloaded_at", None)
    # a composed title is made of the rest: it makes no other item, and an item stored before
    # titles existed is the same item as its copy offloaded since. A title a person gave is
    # part of the description, counted where manifests used to put it (extra.title)
    title, composed = d.pop("title", None), d.pop("title_composed", False)
    if title and not composed:
        d["extra"] = {**(d.get("extra") or {}), "title": title}
    return f"{sha256}:{hashlib.sha256(canonical(d)).hexdigest()[:32]}"


@dataclass(frozen=True)
class LedgerEntry:
    """One audit-ledger entry; ``hash`` covers every other field, ``prev_hash`` chains it."""

    seq: int
    at: str  # ISO UTC
    actor: str
    action: str
    subject: str
    details: dict
    prev_hash: str
    hash: str
    actor_key_id: str = ""
    actor_signature: str = ""

    def body(self) -> dict:
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
                "subject": self.subject, "details": self.details, "prev_hash": self.prev_hash}

    def to_dict(self) -> dict:
        d = self.body()
        d.update(hash=self.hash, actor_key_id=self.actor_key_id,
                 actor_signature=self.actor_signature)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LedgerEntry:
        return cls(seq=int(d["seq"]), at=d["at"], actor=d["actor"], action=d["action"],
                   subject=d["subject"], details=d["details"], prev_hash=d["prev_hash"],
                   hash=d["hash"], actor_key_id=d.get("actor_key_id", ""),
                   actor_signature=d.get("actor_signature", ""))


@dataclass
class Person:
    id: str
    name: str
    os_account: str
    roles: list[str]
    units: list[str] = field(default_factory=list)
    clearances: list[str] = field(default_factory=list)  # CONFIDENTIAL_CLASSES held
    public_keys: list[dict] = field(default_factory=list)  # {"key_id", "public_key", "from"}
    enabled: bool = True
    # approving positions held (settings.APPROVER_ROLES: 法制股, 分管领导, 主管领导, 局领导);
    # a unit's access requests are approved by a holder of its ``approver_role``
    positions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Person:
        return cls(**d)


def item_summary(item: Item) -> dict[str, Any]:
    """The short row search shows."""
    d = item.description
    return {"id": item.id, "kind": d.kind, "unit": d.unit, "device_id": d.device_id,
            "officers": d.officers, "recorded_start": iso(d.recorded_start),
            "recorded_end": iso(d.recorded_end), "party": d.party, "cause": d.cause,
            "case_id": d.case_id, "activity_id": d.activity_id,
            "activity_type": d.activity_type, "title": d.title, "tier": item.tier,
            "status": item.status, "sha256": item.sha256}
