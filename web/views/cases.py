"""The case register (import, link, close) and flags (raise, confirm permanent, withdraw).

Pages under /archivist/cases and /archivist/flags. Every change is a decision signed with the
person's passkey through web/signing.py; ``prepare`` asks the retention services
(retention/cases.py, retention/flags.py: ``check_*``, the same checks the writing functions
make) before the passkey is touched, and ``perform`` calls the functions ``custody case`` and
``custody flag`` call.

What the issue left open, decided here:

- The case register upload is parsed and checked on the server (nothing written), the rows and
  each bad row with its line and reason shown; the parsed rows stay in the session (server
  side) under a random id until signed. One passkey signature imports the whole file: the
  signed record names every case and what is written for it ("entries"), so
  ``custody audit verify`` checks each ``case-register`` entry against it. Because every entry
  carries that record, an upload at the console holds at most ``MAX_UPLOAD_ROWS`` cases (a
  larger register: split it, or ``custody case import``). A file with any problem imports
  nothing, as at the command line.
- A link, a close or an import that raises evidence flags as the rules require names them
  ("consequences") in what the person signs, and the page says so before signing.
- Items are found for a link by 档号, by item id, or by words of the 题名 (searched as party
  or cause, the parts of a 题名 a person remembers), masked as the search page masks them.
- Who sees the pages: the archivists and the legal office (cases); flags also the roles that
  confirm them in some unit (``flags.confirm_roles``). The services decide the rest.
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    g,
    render_template,
    request,
    session,
    url_for,
)

import bootstrap
from archive.access import lookup
from archive.access.codes import item_by_code
from archive.catalog.base import Query
from archive.domain.errors import CustodyError, InputError, NotFound
from archive.domain.ids import uuid7
from archive.domain.names import ROLE_ZH
from archive.people import people_names
from i18n import N_
from retention import cases, flags
from retention.engine import RetentionEngine
from retention.flags import FLAG_STATE_ZH
from retention.rules import FLAG_REASONS
from web.auth import has_role, role_required
from web.common import settings, view_of
from web.signing import Decision, Prepared, decision

bp = Blueprint("cases", __name__)
CASE_PAGE_ROLES = ("archivist", "legal")
MAX_UPLOAD_ROWS = 100
UPLOAD_KEY = "cases:upload"
FIND_LIMIT = 20


def _engine() -> RetentionEngine:
    return bootstrap.retention_engine(g.archive, settings())


def _flag_roles() -> tuple[str, ...]:
    return tuple(dict.fromkeys(CASE_PAGE_ROLES + flags.confirm_roles(_engine())))


def flag_pages(view: Any) -> Any:
    """For the archivists, the legal office and whoever confirms flags in some unit (the
    roles come from the settings, so they are read per request)."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return role_required(*_flag_roles())(view)(*args, **kwargs)

    return wrapper


def _items_shown(item_ids: list[str]) -> list[dict]:
    """Items as people read them: 题名 (masked by the reader's clearances), 档号, id."""
    view = view_of()
    codes = g.archive.catalog.archive_codes_of(item_ids)
    out = []
    for item_id in item_ids:
        title = lookup.item_title(g.archive, g.clearances, item_id, view)
        out.append({"id": item_id, "title": title or item_id, "code": codes.get(item_id),
                    "missing": title is None})
    return out


def _people(ids: set[str]) -> Any:
    return view_of().with_people(people_names(g.archive.catalog, {i for i in ids if i}))


# --- cases --------------------------------------------------------------------------------
@bp.get("/archivist/cases", endpoint="cases")
@role_required(*CASE_PAGE_ROLES)
def cases_page():
    docs = sorted(cases.list_cases(_engine()), key=lambda d: d.get("opened") or "",
                  reverse=True)
    view = view_of()
    return render_template("cases/cases.html", cases=docs, view=view,
                           imported=request.args.get("imported"))


@bp.get("/archivist/cases/import")
@role_required(*CASE_PAGE_ROLES)
def import_form():
    return render_template("cases/import.html", max_rows=MAX_UPLOAD_ROWS, error=None)


@bp.post("/archivist/cases/import")
@role_required(*CASE_PAGE_ROLES)
def import_check():
    """The upload, parsed and checked (nothing written): the rows as they would be imported
    and every bad row with its line and reason."""
    upload = request.files.get("register")
    try:
        if upload is None or not upload.filename:
            raise InputError(N_("choose the case register file (CSV or JSON)"))
        name = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(N_("{path}: not UTF-8 text (byte {offset}); save it as UTF-8"),
                             path=name, offset=exc.start) from exc
        parsed = cases.parse_register(text, name)
        if len(parsed) > MAX_UPLOAD_ROWS:
            raise InputError(N_("{path} holds {count} cases; the console imports at most "
                                "{limit} at once (split the file, or use custody case "
                                "import)"), path=name, count=len(parsed),
                             limit=MAX_UPLOAD_ROWS)
        checked = cases.check_rows(_engine(), g.actor, parsed)
    except CustodyError as exc:
        return render_template("cases/import.html", max_rows=MAX_UPLOAD_ROWS, error=exc), 400
    upload_id = secrets.token_urlsafe(12)
    session[UPLOAD_KEY] = {"id": upload_id, "name": name, "rows": parsed}
    units = {u: r.get("name") or u for u, r in settings().units.items()}
    return render_template("cases/check.html", name=name, checked=checked, units=units,
                           upload_id=upload_id,
                           to_write=[r for r in checked["rows"] if not r["unchanged"]])


@bp.errorhandler(413)
def too_large(_exc):
    return render_template("cases/import.html", max_rows=MAX_UPLOAD_ROWS,
                           error=InputError(N_("the file is larger than 1 MiB"))), 413


def _upload(fields: dict) -> dict:
    pending = session.get(UPLOAD_KEY)
    if not pending or pending.get("id") != fields.get("upload"):
        raise InputError(N_("the upload is no longer here; upload the file again"))
    return pending


def _prepare_import(fields: dict) -> Prepared:
    pending = _upload(fields)
    parsed = [(line, row) for line, row in pending["rows"]]
    checked = cases.check_rows(_engine(), g.actor, parsed)
    if checked["problems"]:
        raise cases.RegisterProblems(Path(pending["name"]), checked["problems"])
    entries = {r["id"]: {k: r[k] for k in cases.FIELDS} | {"update": r["update"]}
               for r in checked["rows"] if not r["unchanged"]}
    if not entries:
        raise InputError(N_("{path}: every case is already in the register as it stands"),
                         path=pending["name"])
    details = {"file": pending["name"], "cases": len(entries), "entries": entries}
    if checked["raises_flags"]:
        details["consequences"] = ["flag"]
    return Prepared("case-register", pending["name"], details,
                    {"upload": pending["id"], "name": pending["name"], "rows": parsed})


def _perform_import(actor: Any, kept: dict) -> str:
    parsed = [(line, row) for line, row in kept["rows"]]
    result = cases.import_rows(_engine(), actor, parsed, kept["name"])
    if (session.get(UPLOAD_KEY) or {}).get("id") == kept["upload"]:
        session.pop(UPLOAD_KEY, None)
    return url_for("cases.cases", imported=result["added"] + result["updated"])


def _found(text: str) -> list[str]:
    """Items for a link: by 档号, by id, else by words of the 题名 (party or cause),
    as the search finds them for this reader (masked)."""
    text = text.strip()
    if not text:
        return []
    try:
        return [item_by_code(g.archive, text)]
    except NotFound:
        pass
    if g.archive.catalog.get_item(text) is not None:
        return [text]
    ids: list[str] = []
    for query in (Query(party=text), Query(cause=text)):
        try:
            page = lookup.search_items(g.archive, g.clearances, query, FIND_LIMIT)
        except InputError:  # too short for a substring search
            return ids
        ids += [r["id"] for r in page["items"] if r["id"] not in ids]
    return ids[:FIND_LIMIT]


@bp.get("/archivist/cases/<path:case_id>")
@role_required(*CASE_PAGE_ROLES)
def case_page(case_id: str):
    engine = _engine()
    case = cases.get_case(engine, case_id)
    if case is None:
        abort(404)
    item_ids = cases.items_of_case(engine, case_id)
    q = request.args.get("q", "")
    found = [i for i in _found(q) if i not in item_ids] if q else []
    units = {u: r.get("name") or u for u, r in settings().units.items()}
    closed_by = _people({case.get("closed_by") or ""}).person(case["closed_by"]) \
        if case.get("closed_by") else None
    return render_template(
        "cases/case.html", case=case, items=_items_shown(item_ids),
        linked=set(case.get("items", [])), q=q, found=_items_shown(found), units=units,
        closed_by=closed_by, keeps_evidence=settings().units.get(
            case["unit"], {}).get("evidence") == "permanent",
        today=engine.clock().astimezone(engine.zone(case["unit"])).date().isoformat())


def _case_id(fields: dict) -> str:
    case_id = str(fields.get("case") or "").strip()
    if not case_id:
        raise InputError(N_("no case named"))
    return case_id


def _prepare_link(fields: dict) -> Prepared:
    case_id = _case_id(fields)
    raw = fields.get("items") or []
    item_ids = list(dict.fromkeys(str(i) for i in (raw if isinstance(raw, list) else [raw])))
    case = cases.check_link(_engine(), g.actor, item_ids, case_id)
    details = {"case": case_id, "items": item_ids,
               "titles": [i["title"] for i in _items_shown(item_ids)]}
    if case["raises_flags"]:
        details["consequences"] = ["flag"]
    return Prepared("case-link", case_id, details, {"case": case_id, "items": item_ids})


def _perform_link(actor: Any, kept: dict) -> str:
    cases.link(_engine(), actor, kept["items"], kept["case"])
    return url_for("cases.case_page", case_id=kept["case"])


def _prepare_close(fields: dict) -> Prepared:
    case_id = _case_id(fields)
    closed = cases.parse_day(str(fields.get("closed") or "").strip())
    case = cases.check_close(_engine(), g.actor, case_id, closed)
    details = {"case": case_id, "closed": closed.isoformat(), "type": case["type"]}
    if case["raises_flags"]:
        details["consequences"] = ["flag"]
    return Prepared("case-close", case_id, details,
                    {"case": case_id, "closed": closed.isoformat()})


def _perform_close(actor: Any, kept: dict) -> str:
    cases.close(_engine(), actor, kept["case"], cases.parse_day(kept["closed"]))
    return url_for("cases.case_page", case_id=kept["case"])


# --- flags --------------------------------------------------------------------------------
@bp.get("/archivist/flags", endpoint="flags")
@flag_pages
def flags_page():
    docs = sorted(flags.list_flags(_engine()), key=lambda d: d.get("raised_at") or "",
                  reverse=True)
    people = _people({p for d in docs for p in (d.get("raised_by"), d.get("confirmed_by"))
                      if p})
    view = view_of()
    rows = []
    for d in docs:
        shown = _items_shown([d["item"]])[0]
        rows.append(d | {"title": shown["title"], "code": shown["code"],
                         "raised_by_name": people.person(d["raised_by"]),
                         "raised_at_local": view.time(d.get("raised_at"), d.get("unit"))})
    return render_template("cases/flags.html", rows=rows, states=FLAG_STATE_ZH)


def _item_of(text: str) -> str:
    """An item named by its id or its 档号."""
    text = text.strip()
    if not text:
        raise InputError(N_("name the item (its archive code or id)"))
    if g.archive.catalog.get_item(text) is not None:
        return text
    return item_by_code(g.archive, text)


@bp.get("/archivist/flags/new")
@flag_pages
def flag_form():
    """Raise a flag on one item (named by 档号 or id); it covers its whole activity."""
    given = request.args.get("item", "")
    item, covers, error = None, [], None
    if given.strip():
        try:
            item_id = _item_of(given)
            item = _items_shown([item_id])[0]
            covers = _items_shown(flags.scope(_engine(), item_id)[1])
        except CustodyError as exc:
            error = exc
    return render_template("cases/flag_new.html", given=given, item=item, covers=covers,
                           reasons=FLAG_REASONS, error=error), 400 if error else 200


def _note(fields: dict) -> str | None:
    note = str(fields.get("note") or "").strip()[:2000]
    return note or None


def _prepare_flag(fields: dict) -> Prepared:
    item_id = _item_of(str(fields.get("item") or ""))
    reason = str(fields.get("reason") or "")
    note = _note(fields)
    scope = flags.check_flag(_engine(), g.actor, item_id, reason, note)
    flag_id = uuid7()
    details = {"item": item_id, "reason": reason, "note": note, "items": scope["items"],
               "activity_id": scope["activity_id"], "reason_zh": FLAG_REASONS[reason],
               "title": _items_shown([item_id])[0]["title"]}
    return Prepared("flag", flag_id, details,
                    {"flag": flag_id, "item": item_id, "reason": reason, "note": note})


def _perform_flag(actor: Any, kept: dict) -> str:
    flags.raise_flag(_engine(), actor, kept["item"], kept["reason"], kept["note"],
                     flag_id=kept["flag"])
    return url_for("cases.flag_page", flag_id=kept["flag"])


@bp.get("/archivist/flags/<flag_id>")
@flag_pages
def flag_page(flag_id: str):
    engine = _engine()
    doc = flags.get_flag(engine, flag_id)
    if doc is None:
        abort(404)
    _, rules = engine.unit_rules(doc.get("unit"))
    confirm_role = rules.get("confirm_role", "approver")
    mine = doc["raised_by"] == g.person.id
    unconfirmed = doc["state"] == "unconfirmed"
    people = _people({doc.get("raised_by"), doc.get("confirmed_by"), doc.get("withdrawn_by")})
    view = view_of()
    return render_template(
        "cases/flag.html", flag=doc, items=_items_shown(doc["items"]), states=FLAG_STATE_ZH,
        people=people, view=view, confirm_role=ROLE_ZH.get(confirm_role, confirm_role),
        # offered to whoever may do it; the services refuse anybody else (and record it)
        may_confirm=unconfirmed and has_role(g.person, (confirm_role,)),
        own_flag=mine, may_withdraw=unconfirmed and (
            (mine and not doc.get("raised_by_rule")) or has_role(g.person, (confirm_role,))))


def _flag_id(fields: dict) -> str:
    flag_id = str(fields.get("flag") or "").strip()
    if not flag_id:
        raise InputError(N_("no flag named"))
    return flag_id


def _prepare_confirm(fields: dict) -> Prepared:
    flag_id = _flag_id(fields)
    if not fields.get("understood"):
        raise InputError(N_("tick the box to say you know the lock can never be undone"))
    doc = flags.check_confirm(_engine(), g.actor, flag_id)
    return Prepared("flag-confirm", flag_id,
                    {"flag": flag_id, "items": doc["items"], "reason_zh": doc["reason_zh"],
                     "raised_by": doc["raised_by"],
                     "permanent": "永久保存：COMPLIANCE 锁定，永远不能撤销"},
                    {"flag": flag_id})


def _perform_confirm(actor: Any, kept: dict) -> str:
    flags.confirm(_engine(), actor, kept["flag"])
    return url_for("cases.flag_page", flag_id=kept["flag"])


def _prepare_withdraw(fields: dict) -> Prepared:
    flag_id = _flag_id(fields)
    note = _note(fields)
    doc = flags.check_withdraw(_engine(), g.actor, flag_id)
    return Prepared("flag-withdraw", flag_id,
                    {"flag": flag_id, "note": note, "reason_zh": doc["reason_zh"]},
                    {"flag": flag_id, "note": note})


def _perform_withdraw(actor: Any, kept: dict) -> str:
    flags.withdraw(_engine(), actor, kept["flag"], kept["note"])
    return url_for("cases.flag_page", flag_id=kept["flag"])


decision(Decision("case-register", _prepare_import, _perform_import, CASE_PAGE_ROLES))
decision(Decision("case-link", _prepare_link, _perform_link, CASE_PAGE_ROLES))
decision(Decision("case-close", _prepare_close, _perform_close, CASE_PAGE_ROLES))
decision(Decision("flag", _prepare_flag, _perform_flag, CASE_PAGE_ROLES))
# the roles that confirm flags are the settings' (any unit's); the service checks the flag's
decision(Decision("flag-confirm", _prepare_confirm, _perform_confirm, ()))
decision(Decision("flag-withdraw", _prepare_withdraw, _perform_withdraw, ()))
