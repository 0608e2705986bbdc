"""Viewing an item under an approved request, or an auditor's playback of an item their own
sampled inspection drew (回放检查): registered, streamed from the WORM store by version id
with its digests checked on the way, never copied to disk.

Playback without a request is the auditor's own right, and only that: the person holds the
role ``auditor``; a sampled verification they made (an inspection record of type
``sampled-verification``, signed with their registered key) drew the item into its sample
within the last ``PLAYBACK_DAYS`` days; and they hold the clearance of a confidential item.
Anything else needs an approved request, as for everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from archive import people
from archive.access.requests import (
    _now,
    _record_refusal,
    find_request_for,
    request_for,
)
from archive.catalog.base import Catalog
from archive.domain.errors import InputError, ProblemFound
from archive.domain.ids import uuid7
from archive.domain.model import Item, iso, parse_iso
from archive.domain.names import joined
from archive.integrity.fixity import StreamDigests
from archive.ledger.chain import Actor
from archive.people import person_of
from archive.service import Archive
from i18n import N_, Text

PLAYBACK_ROLE = "auditor"
PLAYBACK_DAYS = 30  # how long after drawing its sample an inspection lets its auditor play it
SAMPLED = "sampled-verification"


# --- the auditor's playback (回放检查) -------------------------------------------------------
def _inspection_signed(catalog: Catalog, doc: dict) -> bool:
    """The inspection record verifies with a key registered to the person it names: a record
    written into the catalog by hand grants nothing."""
    person = person_of(catalog, doc.get("by", ""))
    if person is None:
        return False
    ring = people.signing_ring(catalog, person.id)
    body = {k: v for k, v in doc.items() if k != "signature"}
    return ring.verify(body, doc.get("signer_key_id", ""), doc.get("signature", ""))


def playback_grant(catalog: Catalog, person_id: str, item: Item,
                   inspection_id: str | None = None, now: datetime | None = None
                   ) -> tuple[dict | None, Text | None]:
    """The inspection that lets this person play this item without a request, and None; or
    None and why none does. ``inspection_id`` names one; otherwise their newest that
    qualifies."""
    now = now or _now()
    person = person_of(catalog, person_id)
    if person is None or PLAYBACK_ROLE not in person.roles:
        return None, Text("{person} is not an auditor", person=person_id)
    if inspection_id is not None:
        doc = catalog.get_record("inspections", inspection_id)
        if doc is None:
            return None, Text("no inspection {inspection!r}", inspection=inspection_id)
        candidates = [doc]
    else:
        candidates = sorted(catalog.list_records("inspections", by=person_id, type=SAMPLED),
                            key=lambda d: d["at"], reverse=True)
    reasons = []
    for doc in candidates:
        if doc.get("type") != SAMPLED or doc.get("by") != person_id:
            reasons.append(Text("inspection {inspection} is not a sampled verification by "
                                "{person}", inspection=doc["id"], person=person_id))
        elif item.id not in doc.get("items", []):
            if inspection_id is not None:
                reasons.append(Text("inspection {inspection} did not draw item {item} into "
                                    "its sample", inspection=doc["id"], item=item.id))
        elif parse_iso(doc["at"]) + timedelta(days=PLAYBACK_DAYS) <= now:
            reasons.append(Text("inspection {inspection} drew item {item} on {at}, more "
                                "than {days} days ago", inspection=doc["id"], item=item.id,
                                at=doc["at"], days=PLAYBACK_DAYS))
        elif not _inspection_signed(catalog, doc):
            reasons.append(Text("inspection {inspection}: its signature does not verify with "
                                "a key registered to {person} (altered in the catalog?)",
                                inspection=doc["id"], person=person_id))
        else:
            conf = item.description.confidential
            if conf and conf not in person.clearances:
                return None, Text("{person} lacks the clearance {clearance} that item {item} "
                                  "needs, also for an inspection's playback",
                                  person=person_id, clearance=conf, item=item.id)
            return doc, None
    return None, reasons[0] if reasons else Text(
        "no sampled verification by {person} in the last {days} days drew item {item}",
        person=person_id, days=PLAYBACK_DAYS, item=item.id)


def watch_problem(archive: Archive, actor: Actor, item: Item) -> Text | None:
    """Why this person could not watch this item (None: they could), under the rules
    ``open_view`` applies: an approved request of theirs covering it, or their playback
    right as an auditor. Nothing is recorded here."""
    catalog = archive.catalog
    grant, why_not_played = playback_grant(catalog, actor.person_id, item)
    if grant is not None:
        return None
    req, why = request_for(catalog, actor.person_id, item.id, None, "view")
    if req is not None:
        return None
    assert why is not None and why_not_played is not None
    return joined([why, why_not_played]) if _is_auditor(catalog, actor.person_id) else why


def _is_auditor(catalog: Catalog, person_id: str) -> bool:
    person = person_of(catalog, person_id)
    return person is not None and PLAYBACK_ROLE in person.roles


# --- views ----------------------------------------------------------------------------------
def _basis(archive: Archive, actor: Actor, item: Item, request_id: str | None,
           inspection_id: str | None) -> dict:
    """What this view rests on: an auditor's own inspection, or an approved request; a
    refusal (recorded once, naming why neither allows it) otherwise."""
    catalog = archive.catalog
    if request_id is None and (inspection_id is not None
                               or _is_auditor(catalog, actor.person_id)):
        grant, why_not_played = playback_grant(catalog, actor.person_id, item, inspection_id)
        if grant is not None:
            return {"request": None, "inspection": grant["id"],
                    "reason": f"回放检查（抽样机读检验 {grant['id']}）", "approved_by": "-"}
        assert why_not_played is not None  # playback_grant gives a reason with no grant
        if inspection_id is not None:
            raise _record_refusal(archive, actor, "view", item.id, why_not_played,
                                  {"inspection": inspection_id})
        req, why = request_for(catalog, actor.person_id, item.id, None, "view")
        if req is None:
            assert why is not None
            raise _record_refusal(archive, actor, "view", item.id,
                                  joined([why, why_not_played]))
    else:
        req = find_request_for(archive, actor, item.id, request_id, "view")
    return {"request": req["id"], "inspection": None, "reason": req["reason"],
            "approved_by": req["decision"]["decision"]["by"]}


@people.records_refusals("view")
def open_view(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
              how: str, inspection_id: str | None = None) -> tuple[dict, Iterator[bytes]]:
    """Register a view and return (register entry, verified byte stream).

    The view rests on an approved request (``request_id``, or the viewer's newest covering
    the item) or, for an auditor, on their own sampled inspection that drew the item
    (``inspection_id``, or the newest such): see the module's note.

    The stream reads the object from the WORM store by version id and checks size, SHA-256
    and SM3 as it goes; at its end the register entry is completed, and a mismatch raises
    ProblemFound (and is recorded) after the last byte.
    """
    if request_id is not None and inspection_id is not None:
        raise InputError(N_("view under a request or an inspection, not both"))
    item = archive.item(item_id)
    basis = _basis(archive, actor, item, request_id, inspection_id)
    at = _now()
    entry = {"id": uuid7(), "kind": "view", "at": iso(at), "person": actor.person_id,
             "item": item_id, "request": basis["request"], "reason": basis["reason"],
             "approved_by": basis["approved_by"], "how": how,
             "unit": item.description.unit, "outcome": "started"}
    if basis["inspection"]:
        entry["inspection"] = basis["inspection"]
    led = archive.ledger.append(actor, "access-view", item_id, {
        "request": basis["request"], "reason": basis["reason"], "how": how,
        "register": entry["id"]}
        | ({"inspection": basis["inspection"]} if basis["inspection"] else {}))
    entry["ledger_seq"] = led.seq
    archive.catalog.put_record("access_register", entry["id"], entry)
    obj = item.storage["object"]

    def stream() -> Iterator[bytes]:
        digests = StreamDigests()
        completed = False
        try:
            for chunk in archive.store.read(obj["key"], obj["version_id"]):
                digests.update(chunk)
                yield chunk
            completed = True
        finally:
            got = digests.finish()
            ok = got == item.current.digests
            entry["outcome"] = ("completed" if ok else "digest-mismatch") if completed \
                else "stopped"
            entry["bytes"] = got.size
            entry["ended"] = iso(_now())
            archive.catalog.put_record("access_register", entry["id"], entry)
            if completed and not ok:
                archive.ledger.append(actor, "fixity-failure", item_id, {
                    "during": "view", "read": got.to_dict(),
                    "expected": item.current.digests.to_dict()})
        if not ok:
            raise ProblemFound(N_("item {item}: the bytes read from the store do not match "
                                  "their digests; the view is recorded as failed"),
                               subject=item_id, item=item_id)

    return entry, stream()


def _outcome(archive: Archive, entry: dict) -> str:
    """What the access register says became of the view."""
    doc = archive.catalog.get_record("access_register", entry["id"])
    return (doc or entry)["outcome"]


@people.records_refusals("view")
def view_with_player(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
                     argv: list[str], inspection_id: str | None = None) -> dict:
    """View an item by feeding a player's standard input (``argv``, e.g. ``["mpv", "-"]``);
    returns the register entry, the request (or inspection), the player's exit status and
    the outcome."""
    entry, chunks = open_view(archive, actor, item_id, request_id, "player", inspection_id)
    status = pipe_to_player(chunks, argv)
    return {"register": entry["id"], "request": entry["request"],
            "inspection": entry.get("inspection"), "player_exit": status,
            "outcome": _outcome(archive, entry)}


@people.records_refusals("view")
def view_by_link(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
                 on_ready: Callable[[str], None], timeout: float = 300.0,
                 inspection_id: str | None = None) -> dict:
    """View an item on a one-time 127.0.0.1 link (``on_ready`` is told its URL); returns the
    register entry, the request (or inspection), whether it was fetched and the outcome."""
    entry, chunks = open_view(archive, actor, item_id, request_id, "link", inspection_id)
    size = archive.item(item_id).current.digests.size
    fetched = serve_once(chunks, on_ready, size, timeout=timeout)
    if not fetched:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return {"register": entry["id"], "request": entry["request"],
            "inspection": entry.get("inspection"), "fetched": fetched,
            "outcome": _outcome(archive, entry)}


def pipe_to_player(chunks: Iterable[bytes], argv: list[str]) -> int:
    """Feed a player's standard input; returns the player's exit status. A player that
    closes early (the viewer stopped) ends the stream."""
    import subprocess

    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
    except OSError as exc:
        raise InputError(N_("cannot start the player {player!r}: {reason}"), player=argv[0],
                         reason=str(exc)) from exc
    assert proc.stdin is not None
    it = iter(chunks)
    try:
        for chunk in it:
            proc.stdin.write(chunk)
    except BrokenPipeError:
        close = getattr(it, "close", None)
        if close:
            close()
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    return proc.wait()


def serve_once(chunks: Iterable[bytes], on_ready: Callable[[str], None], size: int,
               mime: str = "application/octet-stream", timeout: float = 300.0) -> bool:
    """Serve the bytes once on http://127.0.0.1:<random port>/<random token>; every other
    path gets 404, and the server closes after the one answer (or ``timeout`` seconds).
    Returns True when someone fetched it."""
    import http.server
    import secrets
    import threading

    token = secrets.token_urlsafe(24)
    served = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            if self.path != f"/{token}" or served.is_set():
                self.send_error(404)
                return
            served.set()
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            it = iter(chunks)
            try:
                for chunk in it:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                close = getattr(it, "close", None)
                if close:
                    close()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 1.0
    try:
        on_ready(f"http://127.0.0.1:{server.server_address[1]}/{token}")
        deadline = _now() + timedelta(seconds=timeout)
        while not served.is_set() and _now() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    return served.is_set()


