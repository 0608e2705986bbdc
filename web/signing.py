"""Decisions signed with the person's own passkey, one mechanism for every page that makes
one (approve, appraise, witness, confirm a flag, close a case, accept a transfer, sign an
inspection report…).

A page's ``<form class="signed" data-decision="NAME">`` is posted as JSON to
``/sign/NAME/begin``. The registered :class:`Decision`'s ``prepare(fields)`` asks the
services whether this person may make it now (a refusal comes before any passkey is
touched, and the service records it) and says what is signed: the ledger action, its
subject and the details the person agrees to. That record becomes the WebAuthn challenge
(``archive.passkeys.service.begin_decision``). ``/sign/NAME/finish`` verifies the assertion
and calls ``perform(actor, kept)``, the same service call the command line makes, with the
Actor that carries the evidence. What the person chose stays on the server between the two
steps, so the finish does exactly what was signed; the services check every rule again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, g, jsonify, request, session

import i18n
from archive.domain.errors import InputError
from archive.passkeys import service as passkeys
from archive.passkeys.evidence import DECISION_ACTIONS
from web.auth import has_role, refuse_role, signed_in


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` found: the ledger ``action`` and ``subject`` the service will write,
    the ``details`` shown and signed, and what ``perform`` needs (``kept``, JSON)."""

    action: str
    subject: str
    details: dict
    kept: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """A decision a page offers: ``prepare(fields) -> Prepared`` (refuses by raising a
    CustodyError), ``perform(actor, kept) -> URL`` of the page to show next; ``roles``: who
    may start it at all (the services decide the rest)."""

    name: str
    prepare: Callable[[dict], Prepared]
    perform: Callable[[Any, dict], str]
    roles: tuple[str, ...] = ()


DECISIONS: dict[str, Decision] = {}


def decision(d: Decision) -> Decision:
    """Register ``d`` (at import of the view module that offers it)."""
    if d.name in DECISIONS and DECISIONS[d.name] is not d:
        raise ValueError(f"decision {d.name!r} registered twice")
    DECISIONS[d.name] = d
    return d


bp = Blueprint("signing", __name__)


def _decision(name: str) -> Decision:
    d = DECISIONS.get(name)
    if d is None:
        abort(404)
    return d


def _key(name: str) -> str:
    return f"sign:{name}"


@bp.post("/sign/<name>/begin")
@signed_in
def begin(name: str):
    d = _decision(name)
    if d.roles and not has_role(g.person, d.roles):
        return refuse_role(d.roles)
    fields = request.get_json(silent=True)
    if not isinstance(fields, dict):
        raise InputError(i18n.N_("the form was not sent; reload the page and try again"))
    prepared = d.prepare(fields)
    if prepared.action not in DECISION_ACTIONS:  # a programming error, never a person's
        raise ValueError(f"{prepared.action!r} is not a decision action")
    answer = passkeys.begin_decision(g.archive, g.console.relying_party(), g.person.id,
                                     prepared.action, prepared.subject, prepared.details)
    session[_key(name)] = {"state": answer["state"], "kept": prepared.kept}
    return jsonify({"options": answer["options"], "decision": answer["decision"]})


@bp.post("/sign/<name>/finish")
@signed_in
def finish(name: str):
    d = _decision(name)
    pending = session.pop(_key(name), None)
    credential = (request.get_json(silent=True) or {}).get("credential")
    if not pending or not isinstance(credential, dict):
        raise InputError(i18n.N_("start the decision again"))
    actor = passkeys.finish_decision(g.archive, g.console.relying_party(), pending["state"],
                                     credential)
    if actor.person_id != g.person.id:  # the passkey of someone else than the session's
        raise InputError(i18n.N_("the passkey is not the signed-in person's"))
    return jsonify({"next": d.perform(actor, pending["kept"])})
