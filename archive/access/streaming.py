"""Viewing in the browser: an item's archived bytes served by byte ranges, read from the WORM
store by version id, nothing written to disk, never one unchecked byte.

Before the first byte of a version is served, the whole object is read once and its SHA-256
compared with the catalog's; that pass also keeps the SHA-256 of every ``BLOCK``-sized block,
remembered in working state per (store key, version id). Every range is then served from
whole blocks, each compared with its remembered digest before any of it is sent: bytes that
changed in the store after the first check (a failing disk, a careless operator) are caught
at the block they are in, never shown first and checked later. A mismatch, either time,
refuses, and is recorded (the access register entry's outcome ``digest-mismatch`` and a
``fixity-failure`` in the ledger), and the remembered digests are dropped.

A view is one playback of one item: ``open_playback`` applies the command line's rules (an
approved request of the viewer's covering the item, unexpired; or an auditor's playback of
an item their signed sampled inspection drew, with the clearance) through
``archive.access.viewing``, registers the view once (register and ledger), and returns a
playback: an unguessable id that the range requests of that one playback name, good for
that person only, until ``PLAYBACK_HOURS`` later or the approval's expiry, whichever is
first. Range requests are not registered one by one.

Formats the browser cannot play (AVI, 3GP, AMR, QuickTime, HEVC, TIFF, OFD) are declared
not viewable in the browser, with the export offered instead; no preview is made.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from queue import Queue
from typing import Any

from archive import people
from archive.access import viewing
from archive.access.requests import AccessRefused, _record_refusal
from archive.domain.errors import InputError, NotFound, ProblemFound
from archive.domain.ids import uuid7
from archive.domain.model import Item, iso, parse_iso
from archive.ledger.chain import Actor
from archive.service import Archive
from i18n import N_, Text

BLOCK = 1 << 20  # 1 MiB: a seek costs at most one block read; 2 GiB keeps 64 KiB of digests
PLAYBACK_HOURS = 4

# what the browser shows, by the MIME type format identification recorded at ingest
SHOWN = {"video/mp4": "video", "video/webm": "video", "video/ogg": "video",
         "audio/mp4": "audio", "audio/x-m4a": "audio", "audio/mpeg": "audio",
         "audio/wav": "audio", "audio/x-wav": "audio", "audio/ogg": "audio",
         "audio/webm": "audio", "image/jpeg": "image", "image/png": "image",
         "application/pdf": "pdf"}
SERVED_AS = {"audio/x-wav": "audio/wav", "audio/x-m4a": "audio/mp4"}
# when ingest recorded no MIME type (an item made by a service, not the intake): by name
BY_EXTENSION = {"mp4": "video/mp4", "m4a": "audio/mp4", "webm": "video/webm",
                "ogv": "video/ogg", "ogg": "audio/ogg", "mp3": "audio/mpeg",
                "wav": "audio/wav", "jpg": "image/jpeg", "jpeg": "image/jpeg",
                "png": "image/png", "pdf": "application/pdf", "avi": "video/x-msvideo",
                "3gp": "video/3gpp", "amr": "audio/amr", "mov": "video/quicktime",
                "tif": "image/tiff", "tiff": "image/tiff", "ofd": "application/ofd"}
# codecs (MediaInfo's names) a browser here plays; a stream in any other is not viewable
PLAYED_CODECS = {"AVC", "AAC", "MPEG Audio", "VP8", "VP9", "AV1", "Opus", "Vorbis",
                 "Theora", "PCM", "FLAC"}

_DDL = """
CREATE TABLE IF NOT EXISTS verified_versions (
    store_key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    block INTEGER NOT NULL,
    digests BLOB NOT NULL,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (store_key, version_id)
);
CREATE TABLE IF NOT EXISTS playbacks (
    id TEXT PRIMARY KEY,
    register TEXT NOT NULL,
    person TEXT NOT NULL,
    item TEXT NOT NULL,
    store_key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    shown_as TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
"""


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- what the browser can show ----------------------------------------------------------------
@dataclass(frozen=True)
class Showing:
    """How an item is shown in the page: ``shown_as`` video, audio, image or pdf, served as
    ``mime``; or None with ``why`` it is not viewable in the browser."""

    shown_as: str | None
    mime: str
    why: Text | None = None


def showing(item: Item) -> Showing:
    fmt = item.checks.get("format") or {}
    mime = (fmt.get("mime") or "").lower()
    if not mime or mime in ("application/octet-stream", "application/x-empty"):
        name = PurePosixPath(str(item.description.source.get("original_name") or "")).name
        mime = BY_EXTENSION.get(name.rpartition(".")[2].lower(), mime)
    shown_as = SHOWN.get(mime)
    if shown_as is None:
        return Showing(None, mime, Text("{mime} cannot be played or shown by the browser; "
                                        "ask for an extract and use the exported copy",
                                        mime=mime or "?"))
    unplayable = [c for c in fmt.get("codecs") or [] if c not in PLAYED_CODECS]
    if shown_as in ("video", "audio") and unplayable:
        return Showing(None, mime, Text("its {codecs} stream cannot be played by the browser; "
                                        "ask for an extract and use the exported copy",
                                        codecs=", ".join(unplayable)))
    return Showing(shown_as, SERVED_AS.get(mime, mime))


# --- working state: verified versions and playbacks --------------------------------------------
@dataclass(frozen=True)
class Verified:
    store_key: str
    version_id: str
    sha256: str
    size: int
    block: int
    digests: bytes  # the 32-byte SHA-256 of each block, in order

    def block_digest(self, n: int) -> bytes:
        return self.digests[32 * n:32 * (n + 1)]


class Playbacks:
    """The verified versions and the open playbacks of one data home (working state)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def _db(self) -> Any:
        return self.state.ensure("streaming", _DDL)

    def verified(self, key: str, version_id: str) -> Verified | None:
        row = self._db().execute(
            "SELECT store_key, version_id, sha256, size, block, digests FROM verified_versions "
            "WHERE store_key = ? AND version_id = ?", (key, version_id)).fetchone()
        return Verified(*row) if row else None

    def remember(self, v: Verified) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO verified_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (v.store_key, v.version_id, v.sha256, v.size, v.block, v.digests, iso(_now())))

    def forget(self, key: str, version_id: str) -> None:
        self._db().execute("DELETE FROM verified_versions WHERE store_key = ? AND "
                           "version_id = ?", (key, version_id))

    def add(self, doc: dict) -> None:
        self._db().execute(
            "INSERT INTO playbacks (id, register, person, item, store_key, version_id, size, "
            "mime, shown_as, created, expires) VALUES (:id, :register, :person, :item, "
            ":store_key, :version_id, :size, :mime, :shown_as, :created, :expires)", doc)

    def get(self, playback_id: str) -> dict | None:
        row = self._db().execute("SELECT * FROM playbacks WHERE id = ?",
                                 (playback_id,)).fetchone()
        return dict(row) if row else None

    def drop_expired(self, now: datetime | None = None) -> None:
        self._db().execute("DELETE FROM playbacks WHERE expires <= ?", (iso(now or _now()),))


# --- verification -------------------------------------------------------------------------------
def verify_version(archive: Archive, item: Item, block: int | None = None
                   ) -> tuple[Verified, bool]:
    """Read the item's object in full from the store by version id: (what was read, whether
    its size and SHA-256 are the catalog's). ``block``: the size of the blocks whose digests
    are kept (default ``BLOCK``)."""
    block = block or BLOCK
    obj = item.storage["object"]
    whole = hashlib.sha256()
    # the whole digest in a second thread (hashlib lets go of the GIL): the wait before the
    # first frame is one hashing pass, not two
    queue: Queue[bytes | None] = Queue(maxsize=4)
    failed: list[BaseException] = []

    def hash_whole() -> None:
        try:
            while (data := queue.get()) is not None:
                whole.update(data)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            failed.append(exc)

    worker = threading.Thread(target=hash_whole, name="sha256-whole", daemon=True)
    worker.start()
    digests = bytearray()
    size = 0
    pending = b""
    try:
        for chunk in archive.store.read(obj["key"], obj["version_id"], block):
            queue.put(chunk)
            size += len(chunk)
            if not pending and len(chunk) == block:  # the store's reads are block-sized
                digests += hashlib.sha256(chunk).digest()
                continue
            pending += chunk
            while len(pending) >= block:
                digests += hashlib.sha256(pending[:block]).digest()
                pending = pending[block:]
        if pending:
            digests += hashlib.sha256(pending).digest()
    finally:
        queue.put(None)
        worker.join()
    if failed:
        raise failed[0]
    got = Verified(obj["key"], obj["version_id"], whole.hexdigest(), size, block,
                   bytes(digests))
    want = item.current.digests
    return got, got.size == want.size and got.sha256 == want.sha256


def _mismatch(archive: Archive, actor: Actor, item: Item, register_id: str,
              read: dict, playbacks: Playbacks) -> ProblemFound:
    """Record a digest mismatch found while viewing; the error to raise."""
    obj = item.storage["object"]
    playbacks.forget(obj["key"], obj["version_id"])
    entry = archive.catalog.get_record("access_register", register_id)
    if entry is not None:
        archive.catalog.put_record("access_register", register_id, entry | {
            "outcome": "digest-mismatch", "ended": iso(_now())})
    archive.ledger.append(actor, "fixity-failure", item.id, {
        "during": "view", "how": "browser", "read": read,
        "expected": {"size": item.current.digests.size,
                     "sha256": item.current.digests.sha256}})
    return ProblemFound(N_("item {item}: the bytes read from the store do not match their "
                           "digests; nothing of it is shown, and the view is recorded as "
                           "failed"), subject=item.id, item=item.id)


# --- one playback ------------------------------------------------------------------------------
@people.records_refusals("view")
def open_playback(archive: Archive, actor: Actor, playbacks: Playbacks, item_id: str,
                  request_id: str | None = None, inspection_id: str | None = None) -> dict:
    """Register one view of an item in the browser and return its playback (``id``,
    ``mime``, ``shown_as``, ``size``, ``expires``, ``register``, ``request``,
    ``inspection``): the rules are the command line's view's, refusals recorded; the whole
    object is checked against its digest before anything of it can be served."""
    if request_id is not None and inspection_id is not None:
        raise InputError(N_("view under a request or an inspection, not both"))
    item = archive.item(item_id)
    basis = viewing._basis(archive, actor, item, request_id, inspection_id)
    shown = showing(item)
    if shown.shown_as is None:
        raise InputError(N_("item {item} is not viewable in the browser: {why}"),
                         subject=item_id, item=item_id, why=shown.why)
    at = _now()
    entry = {"id": uuid7(), "kind": "view", "at": iso(at), "person": actor.person_id,
             "item": item_id, "request": basis["request"], "reason": basis["reason"],
             "approved_by": basis["approved_by"], "how": "browser",
             "unit": item.description.unit, "outcome": "started"}
    if basis["inspection"]:
        entry["inspection"] = basis["inspection"]
    led = archive.ledger.append(actor, "access-view", item_id, {
        "request": basis["request"], "reason": basis["reason"], "how": "browser",
        "register": entry["id"]}
        | ({"inspection": basis["inspection"]} if basis["inspection"] else {}))
    entry["ledger_seq"] = led.seq
    archive.catalog.put_record("access_register", entry["id"], entry)
    obj = item.storage["object"]
    verified = playbacks.verified(obj["key"], obj["version_id"])
    if verified is None or verified.sha256 != item.current.digests.sha256:
        verified, ok = verify_version(archive, item)
        if not ok:
            raise _mismatch(archive, actor, item, entry["id"],
                            {"size": verified.size, "sha256": verified.sha256}, playbacks)
        playbacks.remember(verified)
    entry |= {"outcome": "completed", "bytes": verified.size}
    archive.catalog.put_record("access_register", entry["id"], entry)
    expires = at + timedelta(hours=PLAYBACK_HOURS)
    if basis["request"]:
        req = archive.catalog.get_record("requests", basis["request"]) or {}
        until = parse_iso(((req.get("decision") or {}).get("decision") or {}).get("until"))
        if until is not None:
            expires = min(expires, until)
    if basis["inspection"]:  # an auditor's right to play lasts as long as their sample's
        drawn = archive.catalog.get_record("inspections", basis["inspection"]) or {}
        if drawn.get("at"):
            expires = min(expires, parse_iso(drawn["at"])
                          + timedelta(days=viewing.PLAYBACK_DAYS))
    playback = {"id": secrets.token_urlsafe(24), "register": entry["id"],
                "person": actor.person_id, "item": item_id, "store_key": obj["key"],
                "version_id": obj["version_id"], "size": verified.size, "mime": shown.mime,
                "shown_as": shown.shown_as, "created": iso(at), "expires": iso(expires)}
    playbacks.drop_expired(at)
    playbacks.add(playback)
    return playback | {"request": basis["request"], "inspection": basis["inspection"]}


def playback_for(archive: Archive, actor: Actor, playbacks: Playbacks, playback_id: str,
                 now: datetime | None = None) -> dict:
    """The open playback ``playback_id`` of the actor; refused when it is another's
    (recorded: someone tried to view under another person's view), or over (a new view is
    then registered by opening the item again)."""
    doc = playbacks.get(playback_id)
    if doc is None:
        raise NotFound(N_("no such playback; open the item again"), subject=playback_id)
    if doc["person"] != actor.person_id:
        raise _record_refusal(archive, actor, "view", doc["item"],
                              Text("view {register} was opened by {owner}, not {person}",
                                   register=doc["register"], owner=doc["person"],
                                   person=actor.person_id), {"register": doc["register"]})
    if parse_iso(doc["expires"]) <= (now or _now()):
        raise AccessRefused(N_("this playback ended at {expires}; open the item again"),
                            subject=doc["item"], expires=doc["expires"])
    return doc


# --- ranges ------------------------------------------------------------------------------------
class BadRange(InputError):
    """A Range header that cannot be satisfied (HTTP 416)."""

    code = "bad-range"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range (first, last; inclusive) a ``Range`` header asks for; None when
    there is no header (the whole). Several ranges, other units, or a range past the end are
    refused with BadRange."""
    if header is None or not header.strip():
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        raise BadRange(N_("unsupported range {range!r}: one byte range only"), range=header)
    first_s, dash, last_s = spec.strip().partition("-")
    try:
        if not dash:
            raise ValueError
        if first_s == "":
            n = int(last_s)
            if n <= 0:
                raise ValueError
            first, last = max(0, size - n), size - 1
        else:
            first = int(first_s)
            last = int(last_s) if last_s else size - 1
    except ValueError:
        raise BadRange(N_("malformed range {range!r}"), range=header) from None
    if first < 0 or first > last or first >= size:
        raise BadRange(N_("range {range!r} is outside the {size} bytes"), range=header,
                       size=size)
    return first, min(last, size - 1)


def read_range(archive: Archive, actor: Actor, playbacks: Playbacks, playback: dict,
               first: int, last: int) -> Iterator[bytes]:
    """Bytes ``first``..``last`` of the playback's version, streamed from the store in whole
    blocks, each checked against its remembered digest before any of it is given out. The
    first block is read and checked before this returns, so a damaged start refuses before
    a response begins; damage further on ends the stream at that block (recorded)."""
    verified = playbacks.verified(playback["store_key"], playback["version_id"])
    if verified is None:
        raise AccessRefused(N_("the bytes of this playback are no longer verified; open the "
                               "item again"), subject=playback["item"])
    fh = archive.store.open_version(playback["store_key"], playback["version_id"])
    block = verified.block

    def checked(n: int) -> bytes:
        fh.seek(n * block)
        data = fh.read(block)
        if hashlib.sha256(data).digest() != verified.block_digest(n):
            fh.close()
            item = archive.item(playback["item"])
            raise _mismatch(archive, actor, item, playback["register"],
                            {"block": n, "block_size": block, "offset": n * block},
                            playbacks)
        return data

    try:
        start_block = first // block
        head = checked(start_block)
    except BaseException:
        fh.close()
        raise

    def stream() -> Iterator[bytes]:
        try:
            n, data = start_block, head
            while True:
                lo = max(first - n * block, 0)
                hi = min(last - n * block + 1, len(data))
                yield data[lo:hi]
                n += 1
                if n * block > last:
                    return
                data = checked(n)
        finally:
            fh.close()

    return stream()
