"""Appraisal and disposal (鉴定销毁) at the console, under /archivist/disposal.

- ``index``: what is due now and a rehearsal for a later date (the service's ``propose`` with
  ``as_of``: nothing is proposed or recorded, and the page says so), the lists and their state,
  and the archivist's signed proposal.
- ``show``: one list as the appraisers read it (masked as search masks), each item's decision;
  an appraiser approves with per-item rejections (each with a reason) or rejects the whole
  list; the proposer takes items out; witnesses (监销) sign their presence; the 鉴定意见 and the
  销毁清册 are issued, shown (the documents' own page) and fetched as their signed PDF.
- ``execute_page``: says plainly that destruction is forever, lists every item, names the
  witnesses present; the signed form needs its tick box. The service's rules (approvals,
  witnesses, the real clock) decide what is destroyed.

Every decision is signed with the person's passkey through web/signing.py; ``prepare`` asks the
service's ``check_*`` (which records refusals) before any passkey is touched, and ``perform``
calls the same service function as ``custody dispose``.

Decided here where the issue is silent:
- The execution runs in the request that finishes its signature, not in a background job:
  the destruction *is* the decision (a job never writes a decision), and it deletes a list's
  store versions, not gigabytes. The 销毁清册 document is issued right after it, by the console
  for the person (console-attested, not a decision).
- The 鉴定意见 is issued on request once the appraisal is concluded (the document service
  refuses before); once issued it is the same document on every print.
- The list id of a proposal is drawn before the passkey signs it (the subject of the signed
  decision is the list it makes).
- Who reads these pages: whoever may read a disposal list in the service (archivists, the
  appraiser role of the bureau's config, and the witness roles).
"""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

import bootstrap
import i18n
from archive.domain.errors import CustodyError, InputError
from archive.domain.names import KIND_ZH, TIER_ZH
from archive.people import people_names
from archive.worm.base import now_utc
from documents import issue
from retention import disposal
from retention.engine import RetentionEngine
from retention.rules import rule_text
from web.auth import has_role, refuse_role, signed_in
from web.common import local_input, settings, view_of
from web.signing import Decision, Prepared, decision

bp = Blueprint("disposal", __name__)
SHOWN_TITLES = 30  # titles listed in a signed proposal (the count is always whole)


def _engine() -> RetentionEngine:
    return bootstrap.retention_engine(g.archive, settings())


def appraiser_role() -> str:
    return settings().section("disposal").get("appraiser_role", "approver")


def reader_roles() -> tuple[str, ...]:
    """Who may open these pages: as the service's ``show`` and rehearsal allow."""
    return tuple(dict.fromkeys(disposal.WITNESS_ROLES + (appraiser_role(),)))


def _refused():
    """None when the signed-in person may read disposal pages; else the refusal."""
    roles = reader_roles()
    return None if has_role(g.person, roles) else refuse_role(roles)


def _people(ids) -> dict[str, str]:
    view = view_of().with_people(people_names(g.archive.catalog, {i for i in ids if i}))
    return {i: view.person(i) for i in ids if i}


def _rows_shown(rows: list[dict]) -> list[dict]:
    view = view_of()
    return [r | {"kind_zh": KIND_ZH.get(r["kind"], r["kind"]),
                 "tier_zh": TIER_ZH.get(r["tier"], r["tier"]),
                 "unit_zh": view.unit(r["unit"]),
                 "until": view.time(r["retain_until"], r["unit"]) if r["retain_until"] else "",
                 "decision_zh": disposal.DECISION_ZH.get(r["decision"], r["decision"]),
                 "rule_zh": i18n.localize(rule_text(r.get("rule"))),
                 "reason_zh": disposal.reason_shown(r) if r.get("reason") else ""}
            for r in rows]


# --- pages ----------------------------------------------------------------------------------
@bp.get("/archivist/disposal")
@signed_in
def index():
    refused = _refused()
    if refused is not None:
        return refused
    engine = _engine()
    as_of_text = (request.args.get("as_of") or "").strip()
    rehearsal, error, due = None, None, None
    try:
        # what is due now is a rehearsal at this moment: read, never recorded
        due = disposal.propose(engine, g.actor, now_utc())
        if as_of_text:
            when = local_input(as_of_text, None, "as_of")  # as the CLI's --as-of reads it
            rehearsal = disposal.propose(engine, g.actor, when)
    except CustodyError as exc:
        error = exc
    lists = list(reversed(disposal.list_disposals(engine)))
    names = _people({d["proposed_by"] for d in lists})
    view = view_of()
    shown = [{"id": d["id"], "state": d["state"],
              "state_zh": disposal.LIST_STATE_ZH.get(d["state"], d["state"]),
              "items": len(d["items"]), "proposed_by": names.get(d["proposed_by"]),
              "proposed_at": view.time(d["proposed_at"]), "appraisals": len(d["approvals"]),
              "witnesses": len({w["by"] for w in d["witnesses"]})} for d in lists]
    return render_template(
        "disposal/index.html", due=due, due_rows=_rows_shown(due["rows"]) if due else [],
        rehearsal=rehearsal, rehearsal_rows=_rows_shown(rehearsal["rows"]) if rehearsal else [],
        rehearsal_at=view.time(rehearsal["as_of"]) if rehearsal else "", as_of=as_of_text,
        error=error, lists=shown, may_propose=has_role(g.person, disposal.PROPOSE_ROLES))


def _list_page(list_id: str) -> dict:
    out = disposal.show(_engine(), g.actor, list_id)
    everyone = ({out["proposed_by"]} | {a["by"] for a in out["appraisals"]}
                | {t["by"] for t in out["taken_out"]} | set(out["witnesses"])
                | {e["by"] for e in out["executions"]})
    return out | {"names": _people(everyone)}


@bp.get("/archivist/disposal/<list_id>")
@signed_in
def show(list_id: str):
    refused = _refused()
    if refused is not None:
        return refused
    out = _list_page(list_id)
    me = g.person.id
    view = view_of()
    appraised = any(a["by"] == me for a in out["appraisals"])
    open_ = out["state"] in ("proposed", "approved")
    witnessed = me in disposal.witnesses_present(_engine(), list_id)
    titles = {r["item"]: f"{r.get('title') or r['item']}（{r.get('code') or '…' + r['item'][-8:]}）"
              for r in out["rows"]}
    taken = [t | {"items": "、".join(titles.get(i, i) for i in t["items"])}
             for t in out["taken_out"]]
    hours = int(settings().section("disposal").get("witness_valid_hours", 24))
    return render_template(
        "disposal/list.html", d=out, rows=_rows_shown(out["rows"]), view=view,
        names=out["names"], titles=titles, taken=taken, witness_hours=hours,
        state_zh=disposal.LIST_STATE_ZH.get(out["state"], out["state"]),
        may_appraise=(open_ and has_role(g.person, (appraiser_role(),))
                      and me != out["proposed_by"] and not appraised),
        may_take_out=open_ and me == out["proposed_by"]
        and has_role(g.person, disposal.PROPOSE_ROLES),
        may_witness=(open_ and has_role(g.person, disposal.WITNESS_ROLES)
                     and me != out["proposed_by"] and not witnessed),
        may_execute=(out["state"] == "approved"
                     and has_role(g.person, disposal.EXECUTE_ROLES)),
        opinion_issued=_issued("appraisal-opinion", list_id),
        register_issued=_issued("disposal-register", list_id),
        to_destroy=[r for r in out["rows"] if r["decision"] == "to-destroy"])


def _issued(kind: str, list_id: str) -> bool:
    return bool(g.archive.store.versions(issue.record_key(kind, list_id)))


@bp.get("/archivist/disposal/<list_id>/execute")
@signed_in
def execute_page(list_id: str):
    if not has_role(g.person, disposal.EXECUTE_ROLES):
        return refuse_role(disposal.EXECUTE_ROLES)
    out = _list_page(list_id)
    present = disposal.witnesses_present(_engine(), list_id)
    return render_template(
        "disposal/execute.html", d=out, rows=_rows_shown(out["rows"]),
        to_destroy=[r for r in _rows_shown(out["rows"]) if r["decision"] == "to-destroy"],
        present=[{"id": p, "name": _people([p])[p]} for p in present if p != g.person.id],
        state_zh=disposal.LIST_STATE_ZH.get(out["state"], out["state"]),
        need=int(settings().section("disposal").get("witnesses", 2)))


@bp.post("/archivist/disposal/<list_id>/documents/<kind>")
@signed_in
def print_document(list_id: str, kind: str):
    """Issue the list's 鉴定意见 or 销毁清册 (once; the same document every later time) and
    show it."""
    if kind not in ("appraisal-opinion", "disposal-register"):
        abort(404)
    _issue(kind, list_id)
    return redirect(url_for("register.document", kind=kind, subject=list_id))


def _issue(kind: str, list_id: str) -> dict:
    return issue.issue(g.archive, g.actor, settings(), kind, list_id,
                       keys_dir=bootstrap.keys_dir(settings()))


# --- signed decisions -----------------------------------------------------------------------
def _field(fields: dict, name: str) -> str:
    value = fields.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()[:2000]


def _many(fields: dict, name: str) -> list[str]:
    value = fields.get(name) or []
    values = value if isinstance(value, list) else [value]
    return list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))


def _list_id(fields: dict) -> str:
    list_id = _field(fields, "list")
    if not list_id:
        raise InputError(i18n.N_("the form was not sent; reload the page and try again"))
    return list_id


def _titles(list_id: str, item_ids: list[str]) -> list[str]:
    """Items as the signer reads them: 题名（档号）, masked as the list page masks."""
    rows = {r["item"]: r for r in disposal.show(_engine(), g.actor, list_id)["rows"]}
    return [f"{rows[i].get('title') or i}（{rows[i].get('code') or i}）" if i in rows else i
            for i in item_ids]


def _prepare_propose(fields: dict) -> Prepared:
    ids = disposal.check_propose(_engine(), g.actor)
    list_id = disposal.new_list_id()
    due = {r["item"]: r for r in disposal.propose(_engine(), g.actor,
                                                  now_utc())["rows"]}
    titles = [due[i].get("title") or i for i in ids if i in due][:SHOWN_TITLES]
    return Prepared("dispose-propose", list_id,
                    {"list": list_id, "decision": "提出销毁清单，交鉴定小组鉴定",
                     "due": len(ids), "titles": titles}, {"list": list_id})


def _perform_propose(actor, kept: dict) -> str:
    disposal.propose(_engine(), actor, None, kept["list"])
    return url_for("disposal.show", list_id=kept["list"])


def _prepare_approve(fields: dict) -> Prepared:
    list_id = _list_id(fields)
    rejected = [(i, _field(fields, f"reason-{i}")) for i in _many(fields, "reject")]
    rejections = disposal.check_approve(_engine(), g.actor, list_id, rejected)
    note = _field(fields, "note") or None
    doc = disposal.get_list(_engine(), list_id)
    details = {"list": list_id, "decision": "同意销毁" + ("（下列条目除外）" if rejections else ""),
               "items_hash": doc["items_hash"], "note": note, "rejected": rejections,
               "rejected_titles": _titles(list_id, [r["item"] for r in rejections])}
    return Prepared("dispose-approve", list_id, details,
                    {"list": list_id, "note": note,
                     "rejected": [[r["item"], r["reason"]] for r in rejections]})


def _perform_approve(actor, kept: dict) -> str:
    disposal.approve(_engine(), actor, kept["list"], kept["note"],
                     [(i, why) for i, why in kept["rejected"]])
    return url_for("disposal.show", list_id=kept["list"])


def _prepare_reject(fields: dict) -> Prepared:
    list_id = _list_id(fields)
    why = _field(fields, "reason")
    doc = disposal.check_reject(_engine(), g.actor, list_id, why)
    return Prepared("dispose-reject", list_id,
                    {"list": list_id, "decision": "不同意销毁本清单（全部保留）",
                     "items_hash": doc["items_hash"], "reason": why},
                    {"list": list_id, "reason": why})


def _perform_reject(actor, kept: dict) -> str:
    disposal.reject(_engine(), actor, kept["list"], kept["reason"])
    return url_for("disposal.show", list_id=kept["list"])


def _prepare_take_out(fields: dict) -> Prepared:
    list_id = _list_id(fields)
    items = _many(fields, "items")
    why = _field(fields, "reason")
    disposal.check_take_out(_engine(), g.actor, list_id, items, why)
    return Prepared("dispose-take-out", list_id,
                    {"list": list_id, "decision": "撤出下列条目（保留）", "items": items,
                     "reason": why, "titles": _titles(list_id, items)},
                    {"list": list_id, "items": items, "reason": why})


def _perform_take_out(actor, kept: dict) -> str:
    disposal.take_out(_engine(), actor, kept["list"], kept["items"], kept["reason"])
    return url_for("disposal.show", list_id=kept["list"])


def _prepare_witness(fields: dict) -> Prepared:
    list_id = _list_id(fields)
    doc = disposal.check_witness(_engine(), g.actor, list_id)
    return Prepared("dispose-witness", list_id,
                    {"list": list_id, "decision": "监销：本人到场见证本清单的销毁",
                     "items_hash": doc["items_hash"]}, {"list": list_id})


def _perform_witness(actor, kept: dict) -> str:
    disposal.witness(_engine(), actor, kept["list"])
    return url_for("disposal.show", list_id=kept["list"])


def _prepare_execute(fields: dict) -> Prepared:
    list_id = _list_id(fields)
    if _field(fields, "confirm") != "yes":
        raise InputError(i18n.N_("tick the box to confirm that the records are destroyed "
                                 "forever"), subject=list_id)
    present = disposal.check_execute(_engine(), g.actor, list_id, _many(fields, "witnesses"))
    rows = disposal.show(_engine(), g.actor, list_id)["rows"]
    doomed = [r["item"] for r in rows if r["decision"] == "to-destroy"]
    return Prepared("dispose-execute", list_id,
                    {"list": list_id, "decision": "执行销毁：下列电子档案永久删除，不可恢复",
                     "witnesses": present, "to_destroy": len(doomed),
                     "titles": _titles(list_id, doomed)[:SHOWN_TITLES]},
                    {"list": list_id, "witnesses": present})


def _perform_execute(actor, kept: dict) -> str:
    disposal.execute(_engine(), actor, kept["list"], kept["witnesses"])
    # the register stands whatever happens to its document; issuing it is no decision
    _issue("disposal-register", kept["list"])
    return url_for("disposal.show", list_id=kept["list"]) + "#register"


decision(Decision(name="dispose-propose", prepare=_prepare_propose, perform=_perform_propose,
                  roles=disposal.PROPOSE_ROLES))
# the appraiser role is the bureau's (config): the service refuses, and records, the others
decision(Decision(name="dispose-approve", prepare=_prepare_approve, perform=_perform_approve))
decision(Decision(name="dispose-reject", prepare=_prepare_reject, perform=_perform_reject))
decision(Decision(name="dispose-take-out", prepare=_prepare_take_out,
                  perform=_perform_take_out, roles=disposal.PROPOSE_ROLES))
decision(Decision(name="dispose-witness", prepare=_prepare_witness, perform=_perform_witness,
                  roles=disposal.WITNESS_ROLES))
decision(Decision(name="dispose-execute", prepare=_prepare_execute, perform=_perform_execute,
                  roles=disposal.EXECUTE_ROLES))
