"""Access: requests, signed approvals, refusals, views, the access register (调阅登记) and the
masking of confidential metadata.

"Not without approval; only copies; register who, why and when." Every request, approval,
refusal and view is a record in the catalog (collections ``requests`` and ``access_register``)
and a ledger entry signed by the acting person.

Who approves: a unit's ``approver_role`` in config names a position (法制股, 分管领导, 主管领导,
局领导). A person may approve a request when they hold the role ``approver`` or ``legal``, hold
that position for every unit the request touches (people's ``positions``; a person with
``units`` listed approves only for those units), hold the clearance of every confidential item in
it, and did not make the request. Items without a configured unit need 局领导.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .canonical import canonical
from .catalog.base import Catalog, Query
from .errors import CustodyError, InputError, NotFound, ProblemFound
from .fixity import StreamDigests
from .ids import uuid7
from .ledger import Actor
from .model import Item, Person, iso, parse_iso
from .people import person_of
from .service import Archive
from .signing import Keyring, load_public_pem

PURPOSES = ("view", "extract")
DEFAULT_DAYS = 30  # an approval without --until is good for this many days
MAX_QUERY_ITEMS = 5000
APPROVING_ROLES = ("approver", "legal")
FALLBACK_POSITION = "局领导"  # items of no configured unit
MASK = "***"
MASKED_FIELDS = ("party", "cause", "case_id", "note", "source", "extra")
PURPOSE_ZH = {"view": "查看", "extract": "提取"}


class AccessRefused(CustodyError):
    """An access the rules do not allow; recorded before it is raised. Exit 2."""

    exit_code = 2
    code = "access-refused"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(doc: object) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


# --- masking ------------------------------------------------------------------------------
def clearances_of(catalog: Catalog, person_id: str | None) -> frozenset[str]:
    """The confidential classes a viewer may see; none for an unknown or disabled viewer."""
    if person_id is None:
        return frozenset()
    person = person_of(catalog, person_id)
    if person is None or not person.enabled:
        return frozenset()
    return frozenset(person.clearances)


def hidden(confidential: str | None, clearances: frozenset[str]) -> bool:
    return confidential is not None and confidential not in clearances


def mask_description(d: dict, clearances: frozenset[str]) -> dict:
    """A description dict with its identifying fields masked unless the viewer is cleared."""
    if not hidden(d.get("confidential"), clearances):
        return d
    out = dict(d)
    for name in MASKED_FIELDS:
        if name in out and out[name] not in (None, "", {}, []):
            out[name] = MASK if isinstance(out[name], str) else {"masked": True}
    if "original_name" in out and out["original_name"]:
        out["original_name"] = MASK
    return out


def mask_summary(row: dict, item: Item, clearances: frozenset[str]) -> dict:
    """A search row (``item_summary``) masked for this viewer."""
    if not hidden(item.description.confidential, clearances):
        return row
    out = dict(row)
    for name in ("party", "cause", "case_id", "original_name"):
        if out.get(name):
            out[name] = MASK
    out["masked"] = True
    return out


def mask_item(item: Item, clearances: frozenset[str]) -> Item:
    """A copy of an item whose description is masked (for renderers that take Items)."""
    if not hidden(item.description.confidential, clearances):
        return item
    import copy

    masked = copy.copy(item)
    masked.current = copy.copy(item.current)
    d = copy.copy(item.description)
    d.party = MASK if d.party else None
    d.cause = MASK if d.cause else None
    d.case_id = MASK if d.case_id else None
    d.note = MASK if d.note else None
    d.source = {"masked": True} if d.source else {}
    d.extra = {"masked": True} if d.extra else {}
    masked.current.description = d
    return masked


def mask_show(out: dict, clearances: frozenset[str]) -> dict:
    """``Archive.show`` output masked: the description and every version's description."""
    if not hidden(out["description"].get("confidential"), clearances) and not any(
            hidden(v["manifest"]["description"].get("confidential"), clearances)
            for v in out.get("versions", [])):
        return out
    out = dict(out)
    out["description"] = mask_description(out["description"], clearances)
    out["versions"] = [v | {"manifest": v["manifest"] | {"description": mask_description(
        v["manifest"]["description"], clearances)}} for v in out.get("versions", [])]
    # the retention rule and holding reasons name cases; events carry source names
    retention = dict(out.get("retention") or {})
    for key in ("rule", "holds", "cases"):
        if retention.get(key):
            retention[key] = MASK if isinstance(retention[key], str) else [MASK]
    out["retention"] = retention
    out["events"] = [{k: e.get(k) for k in ("type", "at", "agent", "outcome")}
                     for e in out.get("events", [])]
    out["masked"] = True
    return out


def mask_record(doc: dict, clearances: frozenset[str]) -> dict:
    """A quarantine (or other) record: any description inside that is confidential to this
    viewer is masked, and then so are the record's file names."""
    found = [False]

    def walk(v: object) -> object:
        if isinstance(v, dict):
            if "confidential" in v and hidden(v.get("confidential"), clearances):
                found[0] = True
                return {k: walk(x) for k, x in mask_description(v, clearances).items()}
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    out = walk(doc)
    if found[0]:
        for name in ("file", "path", "original_name"):
            if out.get(name):
                out[name] = MASK
        if isinstance(out.get("id"), str) and ":" in out["id"]:  # batch:file name
            out["id"] = out["id"].split(":", 1)[0] + ":" + MASK
        out["masked"] = True
    return out


def visible(item: Item, query: Query, clearances: frozenset[str]) -> bool:
    """A search by party, cause or case must not reveal that a hidden item matches it."""
    if not hidden(item.description.confidential, clearances):
        return True
    return query.party is None and query.cause is None and query.case_id is None


# --- requests -------------------------------------------------------------------------------
@dataclass
class AccessContext:
    """What the access service needs besides the archive: who approves for which unit."""

    approver_position: Callable[[str | None], str]  # unit -> 法制股 / 分管领导 / ...
    zone_of: Callable[[str | None], object] | None = None


def _record_refusal(archive: Archive, actor: Actor, action: str, subject: str, why: str,
                    details: dict | None = None) -> AccessRefused:
    """File a refusal (register + ledger) and return the error to raise."""
    rid = uuid7()
    doc = {"id": rid, "kind": "refusal", "at": iso(_now()), "person": actor.person_id,
           "action": action, "subject": subject, "reason": why, "details": details or {}}
    entry = archive.ledger.append(actor, "access-refused", subject,
                                  {"attempted": action, "reason": why} | (details or {}))
    doc["ledger_seq"] = entry.seq
    archive.catalog.put_record("access_register", rid, doc)
    return AccessRefused(f"refused: {why}", subject=subject)


def request_body(doc: dict) -> dict:
    """The part of a request its maker signs and its approver's decision refers to."""
    return {k: doc[k] for k in ("id", "requester", "at", "reason", "purpose", "until", "items",
                                "query", "named")}


def create_request(archive: Archive, actor: Actor, reason: str, purpose: str,
                   items: list[str] | None = None, query: Query | None = None,
                   query_text: str | None = None, until: datetime | None = None) -> dict:
    """A request for the named items, or for what a query finds (confidential items are only
    ever included when named). Signed by its maker."""
    if purpose not in PURPOSES:
        raise InputError(f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    if not reason or not reason.strip():
        raise InputError("a request needs a reason (--reason)")
    if bool(items) == (query is not None):
        raise InputError("name the items (--items) or give a query (--query), one of them")
    if until is not None and until <= _now():
        raise InputError(f"--until {iso(until)} is not in the future")
    named = list(dict.fromkeys(items or []))
    chosen: list[Item] = []
    if named:
        for item_id in named:
            chosen.append(archive.item(item_id))
    else:
        left_out = 0
        for item in archive.catalog.iter_items(query):
            if item.description.confidential:
                left_out += 1
                continue
            chosen.append(item)
            if len(chosen) > MAX_QUERY_ITEMS:
                raise InputError(f"the query finds more than {MAX_QUERY_ITEMS} items; narrow it")
        if not chosen:
            raise InputError("the query finds no items" + (
                f" ({left_out} confidential items are included only when named)"
                if left_out else ""))
    doc = {"id": uuid7(), "requester": actor.person_id, "at": iso(_now()),
           "reason": reason.strip(), "purpose": purpose, "until": iso(until),
           "items": [i.id for i in chosen], "query": query_text, "named": bool(named)}
    doc["units"] = sorted({i.description.unit or "" for i in chosen})
    doc["confidential"] = {i.id: i.description.confidential for i in chosen
                           if i.description.confidential}
    doc["signature"] = {"key_id": actor.key.key_id, "signature": actor.key.sign(
        request_body(doc))}
    doc["status"] = "pending"
    doc["decision"] = None
    archive.catalog.put_record("requests", doc["id"], doc)
    entry = archive.ledger.append(actor, "access-request", doc["id"], {
        "purpose": purpose, "reason": doc["reason"], "items": len(doc["items"]),
        "request_hash": _hash(request_body(doc)), "until": doc["until"],
        "confidential": sorted(set(doc["confidential"].values()))})
    doc["ledger_seq"] = entry.seq
    archive.catalog.put_record("requests", doc["id"], doc)
    return doc


def get_request(catalog: Catalog, request_id: str) -> dict:
    doc = catalog.get_record("requests", request_id)
    if doc is None:
        raise NotFound(f"no access request {request_id!r}", subject=request_id)
    return doc


def _approval_problem(catalog: Catalog, req: dict, approver: Person,
                      ctx: AccessContext) -> str | None:
    if approver.id == req["requester"]:
        return f"{approver.id} may not decide their own request {req['id']}"
    if not set(approver.roles) & set(APPROVING_ROLES):
        return (f"{approver.id} may not decide access requests: it takes the role "
                f"{' or '.join(APPROVING_ROLES)}")
    for unit in req["units"]:
        position = ctx.approver_position(unit or None) if unit else FALLBACK_POSITION
        if position not in approver.positions:
            return (f"{approver.id} does not hold the position {position} that approves "
                    f"access for unit {unit or '(none)'}")
        if unit and approver.units and unit not in approver.units:
            return f"{approver.id} approves for {', '.join(approver.units)}, not {unit}"
    missing = sorted(set(req["confidential"].values()) - set(approver.clearances))
    if missing:
        return (f"{approver.id} lacks the clearance {', '.join(missing)} that items of request "
                f"{req['id']} need")
    return None


def decide(archive: Archive, actor: Actor, request_id: str, approve: bool, note: str,
           ctx: AccessContext) -> dict:
    """Approve or deny a pending request, signed with the approver's own key."""
    catalog = archive.catalog
    req = get_request(catalog, request_id)
    action = "approve" if approve else "deny"
    approver = person_of(catalog, actor.person_id)
    if approver is None:  # acting_person found them; a race with removal: fail closed
        raise AccessRefused(f"{actor.person_id} is not a registered person")
    problem = _approval_problem(catalog, req, approver, ctx)
    if problem is None and req["status"] != "pending":
        problem = f"request {request_id} is already {req['status']}"
    if problem is None and req["until"] and parse_iso(req["until"]) <= _now():
        problem = f"request {request_id} expired at {req['until']}"
    if problem is not None:
        raise _record_refusal(archive, actor, action, request_id, problem)
    at = _now()
    until = req["until"] or iso(at + timedelta(days=DEFAULT_DAYS))
    decision = {"type": "custody.access-decision", "request": request_id,
                "request_hash": _hash(request_body(req)),
                "decision": "approved" if approve else "denied", "by": actor.person_id,
                "at": iso(at),
                "note": note or "", "until": until if approve else None,
                "position": sorted(set(approver.positions))}
    signed = {"decision": decision, "key_id": actor.key.key_id,
              "signature": actor.key.sign(decision)}
    if not verify_decision(catalog, signed):
        raise AccessRefused(f"{actor.person_id}: the signature does not verify with the key "
                            "registered for them")
    req["decision"] = signed
    req["status"] = decision["decision"]
    if approve:
        req["valid_until"] = until
    entry = archive.ledger.append(actor, f"access-{decision['decision']}", request_id, {
        "request_hash": decision["request_hash"], "note": decision["note"],
        "until": decision["until"], "signature": signed["signature"]})
    req["decision_ledger_seq"] = entry.seq
    catalog.put_record("requests", request_id, req)
    return req


def verify_decision(catalog: Catalog, signed: dict | None) -> bool:
    """The decision's signature verifies with a key registered to the person it names."""
    if not signed:
        return False
    person = person_of(catalog, signed["decision"]["by"])
    if person is None:
        return False
    ring = Keyring()
    for k in person.public_keys:
        ring.add(load_public_pem(k["public_key"]))
    return ring.verify(signed["decision"], signed["key_id"], signed["signature"])


def verify_request(catalog: Catalog, req: dict) -> bool:
    person = person_of(catalog, req["requester"])
    if person is None:
        return False
    ring = Keyring()
    for k in person.public_keys:
        ring.add(load_public_pem(k["public_key"]))
    sig = req.get("signature") or {}
    return ring.verify(request_body(req), sig.get("key_id", ""), sig.get("signature", ""))


def usable_problem(catalog: Catalog, req: dict, item_id: str | None, purpose: str,
                   now: datetime | None = None) -> str | None:
    """Why this approved request does not allow this use now (None: it does)."""
    now = now or _now()
    if req["status"] != "approved":
        return f"request {req['id']} is {req['status']}, not approved"
    if req["decision"]["decision"]["request_hash"] != _hash(request_body(req)):
        return f"request {req['id']} was changed after it was approved"
    if not verify_decision(catalog, req["decision"]) or not verify_request(catalog, req):
        return f"request {req['id']}: its signatures do not verify (altered in the catalog?)"
    until = parse_iso(req["decision"]["decision"]["until"])
    if until is not None and until <= now:
        return f"request {req['id']} expired at {iso(until)}"
    if purpose == "extract" and req["purpose"] != "extract":
        return f"request {req['id']} allows viewing only, not extraction"
    if item_id is not None and item_id not in req["items"]:
        return f"request {req['id']} does not cover item {item_id}"
    return None


def find_request_for(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
                     purpose: str) -> dict:
    """The actor's approved, unexpired request covering the item, or a recorded refusal."""
    catalog = archive.catalog
    if request_id is not None:
        req = get_request(catalog, request_id)
        problem = usable_problem(catalog, req, item_id, purpose)
        if problem is None and req["requester"] != actor.person_id:
            problem = f"request {request_id} was made by {req['requester']}, not {actor.person_id}"
        if problem is None:
            return req
        raise _record_refusal(archive, actor, purpose, item_id, problem,
                              {"request": request_id})
    mine = catalog.list_records("requests", requester=actor.person_id)
    reasons = []
    for req in sorted(mine, key=lambda r: r["at"], reverse=True):
        if item_id not in req["items"]:
            continue
        problem = usable_problem(catalog, req, item_id, purpose)
        if problem is None:
            return req
        reasons.append(problem)
    why = "; ".join(reasons) if reasons else (
        f"{actor.person_id} has no approved request covering item {item_id}")
    raise _record_refusal(archive, actor, purpose, item_id, why)


# --- views ----------------------------------------------------------------------------------
def open_view(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
              how: str) -> tuple[dict, Iterator[bytes]]:
    """Register a view and return (register entry, verified byte stream).

    The stream reads the object from the WORM store by version id and checks size, SHA-256
    and SM3 as it goes; at its end the register entry is completed, and a mismatch raises
    ProblemFound (and is recorded) after the last byte.
    """
    item = archive.item(item_id)
    req = find_request_for(archive, actor, item_id, request_id, "view")
    at = _now()
    entry = {"id": uuid7(), "kind": "view", "at": iso(at), "person": actor.person_id,
             "item": item_id, "request": req["id"], "reason": req["reason"],
             "approved_by": req["decision"]["decision"]["by"], "how": how,
             "unit": item.description.unit, "outcome": "started"}
    led = archive.ledger.append(actor, "access-view", item_id, {
        "request": req["id"], "reason": req["reason"], "how": how, "register": entry["id"]})
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
            raise ProblemFound(f"item {item_id}: the bytes read from the store do not match "
                               "their digests; the view is recorded as failed", subject=item_id)

    return entry, stream()


def pipe_to_player(chunks: Iterable[bytes], argv: list[str]) -> int:
    """Feed a player's standard input; returns the player's exit status. A player that
    closes early (the viewer stopped) ends the stream."""
    import subprocess

    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
    except OSError as exc:
        raise InputError(f"cannot start the player {argv[0]!r}: {exc}") from exc
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


# --- the register ---------------------------------------------------------------------------
REGISTER_COLUMNS = ("时间", "调阅人", "调阅事由", "审批人", "申请编号", "条目", "方式", "结果")
OUTCOME_ZH = {"completed": "已调阅", "started": "调阅中", "stopped": "中止",
              "digest-mismatch": "校验不符", "exported": "已提取"}


def register_rows(catalog: Catalog, start: datetime | None, end: datetime | None) -> list[dict]:
    """The access register in time order: views, exports and refusals."""
    rows = []
    names = {d["id"]: d["name"] for d in catalog.list_records("people")}
    for doc in catalog.list_records("access_register"):
        at = parse_iso(doc["at"])
        if (start and at < start) or (end and at >= end):
            continue
        person = doc["person"]
        if doc["kind"] == "refusal":
            row = {"at": doc["at"], "person": person, "name": names.get(person, person),
                   "reason": doc["reason"], "approved_by": "-", "request":
                   doc["details"].get("request", "-"), "item": doc["subject"],
                   "how": doc["action"], "outcome": "拒绝"}
        else:
            row = {"at": doc["at"], "person": person, "name": names.get(person, person),
                   "reason": doc["reason"], "approved_by": doc["approved_by"],
                   "request": doc["request"], "item": doc["item"], "how": doc["how"],
                   "outcome": OUTCOME_ZH.get(doc["outcome"], doc["outcome"])}
        row["kind"] = doc["kind"]
        rows.append(row)
    rows.sort(key=lambda r: r["at"])
    return rows


def row_cells(r: dict, zone) -> list[str]:
    at = parse_iso(r["at"])
    when = at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if zone else r["at"]
    how = {"player": "播放器", "link": "本机链接", "export": "提取拷贝", "view": "查看",
           "extract": "提取", "approve": "批准", "deny": "驳回"}.get(r["how"], r["how"])
    return [when, f"{r['name']}（{r['person']}）", r["reason"], r["approved_by"], r["request"],
            r["item"], how, r["outcome"]]


def register_pdf(rows: list[dict], zone, title: str = "调阅登记") -> bytes:
    """The register as an A4 PDF (matplotlib with the CJK font the yearly report uses)."""
    import io
    import logging

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from .report_html import cjk_font

    font = cjk_font()
    if font is None:
        raise InputError("no font with Chinese glyphs is installed (fonts-wqy-zenhei); "
                         "use --format table or csv")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    buf = io.BytesIO()
    per_page = 25
    pages = [rows[i:i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    with rc_context({"font.family": [font, "DejaVu Sans"], "pdf.fonttype": 42}), \
            PdfPages(buf, metadata={"Title": title, "Creator": "custody"}) as pdf:
        for n, page in enumerate(pages, 1):
            fig = Figure(figsize=(11.69, 8.27))  # A4 landscape
            ax = fig.add_axes((0.03, 0.05, 0.94, 0.85))
            ax.axis("off")
            fig.text(0.5, 0.94, f"{title}（第 {n}/{len(pages)} 页）", ha="center", fontsize=16)
            cells = [row_cells(r, zone) for r in page] or [["（无记录）"] + [""] * 7]
            table = ax.table(cellText=cells, colLabels=list(REGISTER_COLUMNS), loc="upper center",
                             cellLoc="left", colWidths=[.1, .12, .2, .08, .17, .17, .07, .07])
            table.auto_set_font_size(False)
            table.set_fontsize(7)
            pdf.savefig(fig)
    return buf.getvalue()
