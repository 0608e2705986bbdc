"""The passkey services every face calls: invite, enroll, confirm, revoke, sign in, and sign a
decision with a passkey (WebAuthn through py_webauthn; user verification required).

Wiring: ``attach(archive, home)`` once (the command line and the web app factory do) gives
the archive its working state (``<home>/working.db``: invites, challenges, counters) and the
console's registered key; every function below needs it.

What is kept where: credentials in the catalog, the ledger and the WORM store
(``records``); invites, challenges, signature counters and failed attempts in working state
only (``working.invites``, ``working.challenges``), never journaled, signed or replicated.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from archive import people
from archive.domain.errors import IdentityError, InputError, NotFound
from archive.domain.model import Person, iso
from archive.ledger.chain import Actor
from archive.passkeys import console_key, records
from archive.passkeys.evidence import (
    DECISION_TYPE,
    SIGN_IN,
    assertion_of,
    b64,
    decision_challenge,
    key_digest,
    unb64,
)
from i18n import N_, Text
from working import challenges, invites
from working.db import WorkingState

MAX_INVITE_HOURS = 24 * 30
STATES = {records.PENDING: N_("awaiting confirmation"), records.ACTIVE: N_("confirmed"),
          records.REVOKED_STATE: N_("revoked")}  # a credential's state as people read it
ENROLL, SIGN_IN_PURPOSE, DECISION = "enroll", "sign-in", "decision"
TIMEOUT_MS = 120_000  # what the browser is told; the server keeps a challenge challenges.TTL


@dataclass(frozen=True)
class RelyingParty:
    """The WebAuthn relying party in force: ``[web] rp_id``, ``origin``, ``name``."""

    rp_id: str
    origin: str
    name: str = "custody"


@dataclass(frozen=True)
class SignIn:
    """A verified sign-in: who, with which credential; ``assertion`` is what the session keeps
    and hands to ``console_actor`` (it names the ledger entry of this sign-in)."""

    person_id: str
    credential_id: str
    assertion: dict


# --- wiring -----------------------------------------------------------------------------------
def attach(archive: Any, home: Path) -> Any:
    """Give ``archive`` its working state, and the console key of ``home`` (made and
    registered — catalog, WORM store, ledger — the first time it signs). Returns the
    archive."""
    archive.working = WorkingState.of_home(home)
    archive.console_home = Path(home)
    return archive


def _state(archive: Any) -> WorkingState:
    state = getattr(archive, "working", None)
    if state is None:
        raise RuntimeError("archive.passkeys.service.attach(archive, home) was not called")
    return state


def _console(archive: Any):
    """The console key, loaded (made and registered the first time) when first needed: the
    command line's invitations and confirmations never make one."""
    key = getattr(archive, "console_key", None)
    if key is None:
        home = getattr(archive, "console_home", None)
        if home is None:
            raise RuntimeError("archive.passkeys.service.attach(archive, home) was not called")
        key = archive.console_key = console_key.load(archive, home)
    return key


def check_rp(rp: RelyingParty) -> None:
    """WebAuthn needs a host name as RP ID, and an origin on that host."""
    try:
        ipaddress.ip_address(rp.rp_id.strip("[]"))
    except ValueError:
        pass
    else:
        raise InputError(N_("[web] rp_id {rp_id} is an IP address; WebAuthn needs a host name "
                            "(a DNS name with a certificate from the bureau's CA)"),
                         subject=rp.rp_id, rp_id=rp.rp_id)
    host = urlsplit(rp.origin).hostname or ""
    if not rp.rp_id or (host != rp.rp_id and not host.endswith("." + rp.rp_id)):
        raise InputError(N_("[web] origin {origin} is not on the RP ID {rp_id}"),
                         subject=rp.origin, origin=rp.origin, rp_id=rp.rp_id)


def _refuse(archive: Any, kind: str, message: str, **params: object) -> IdentityError:
    """A failed ceremony: counted in aggregate (who failed is not kept), and the error to
    raise."""
    challenges.count_failure(_state(archive), kind)
    return IdentityError(message, subject=kind, **params)


def _person(archive: Any, person_id: str) -> Person:
    person = people.person_of(archive.catalog, person_id)
    if person is None:
        raise NotFound(N_("no person {person!r}"), subject=person_id, person=person_id)
    return person


def user_handle(person_id: str) -> bytes:
    """The WebAuthn user handle of a person: stable, and not their id in clear."""
    return hashlib.sha256(b"custody-person:" + person_id.encode()).digest()[:32]


def _options(options: object) -> dict:
    return json.loads(options_to_json(options))


# --- enrollment -------------------------------------------------------------------------------
@people.records_refusals("people invite")
def invite(archive: Any, actor: Actor, person_id: str, valid_hours: int = 72) -> dict:
    """A one-time enrollment token for ``person_id`` (administrators only): ``{"person",
    "token", "expires", "invite"}``. Only the token's hash is kept; the link works for
    whoever opens it first, which is why an administrator confirms the enrollment."""
    people.require_role(archive.catalog, actor, people.ADMINISTRATORS, "invite people")
    person = _person(archive, person_id)
    if not person.enabled:
        raise InputError(N_("{person} is disabled; enable them before inviting"),
                         subject=person_id, person=person_id)
    if not 1 <= valid_hours <= MAX_INVITE_HOURS:
        raise InputError(N_("an invitation is valid for 1 to {most} hours, not {hours}"),
                         most=MAX_INVITE_HOURS, hours=valid_hours)
    token, inv = invites.create(_state(archive), person_id, actor.person_id,
                                valid_hours * 3600.0)
    expires = iso(datetime.fromtimestamp(inv.expires_at, timezone.utc))
    archive.ledger.append(actor, "passkey-invited", person_id,
                          {"invite": inv.id, "expires": expires})
    return {"person": person_id, "token": token, "expires": expires, "invite": inv.id}


def _invite(archive: Any, token: str, use: bool = False) -> invites.Invite:
    look = invites.take if use else invites.look
    inv, why = look(_state(archive), token)
    if why is not None or inv is None:
        reasons = {invites.UNKNOWN: N_("this invitation link is not valid"),
                   invites.USED: N_("this invitation link was already used"),
                   invites.EXPIRED: N_("this invitation link has expired")}
        raise _refuse(archive, "invite", reasons.get(why or "", reasons[invites.UNKNOWN]))
    return inv


def _enroll_sid(token: str) -> str:
    return "enroll-" + hashlib.sha256(token.encode()).hexdigest()


def begin_enrollment(archive: Any, rp: RelyingParty, token: str) -> dict:
    """``{"options": <PublicKeyCredentialCreationOptions, JSON-ready>, "person": {"id",
    "name"}}`` for a valid invite token; refused for an unknown, used or expired one."""
    check_rp(rp)
    inv = _invite(archive, token)
    person = _person(archive, inv.person)
    if not person.enabled:
        raise _refuse(archive, "invite", N_("{person} is disabled"), person=person.id)
    held = [PublicKeyCredentialDescriptor(id=unb64(r["credential_id"]))
            for r in records.of_person(archive.catalog, person.id)
            if r["status"] != records.REVOKED_STATE]
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_name=person.id, user_id=user_handle(person.id),
        user_display_name=person.name or person.id, timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=held)
    challenges.issue(_state(archive), ENROLL, options.challenge,
                     {"invite": inv.id, "person": person.id}, sid=_enroll_sid(token))
    return {"options": _options(options), "person": {"id": person.id, "name": person.name}}


def finish_enrollment(archive: Any, rp: RelyingParty, token: str, credential: dict) -> dict:
    """Verify the authenticator's registration response (user verification required) and
    record the credential as pending — catalog and ledger, by the console: ``{"person",
    "credential_id", "aaguid", "status": "pending"}``. The token is used up when the
    credential is recorded; a response that does not verify leaves it for another try."""
    check_rp(rp)
    inv = _invite(archive, token)
    ch, why = challenges.take(_state(archive), _enroll_sid(token), ENROLL)
    if ch is None or why is not None or ch.payload.get("invite") != inv.id:
        raise _refuse(archive, "enroll", N_("the enrollment was not begun with this link, or "
                                            "took too long; open the link again"))
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=ch.challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, require_user_verification=True)
    except WebAuthnException as exc:
        raise _refuse(archive, "enroll", N_("the passkey registration does not verify: "
                                            "{reason}"), reason=str(exc)) from exc
    credential_id = b64(verified.credential_id)
    if records.get(archive.catalog, credential_id) is not None:
        raise _refuse(archive, "enroll", N_("this passkey is already enrolled"))
    inv = _invite(archive, token, use=True)  # the first to get here wins the link
    rec = records.enroll(archive, _console(archive), inv.person, credential_id,
                         b64(verified.credential_public_key), str(verified.aaguid),
                         {"id": inv.id, "invited_by": inv.invited_by})
    challenges.set_sign_count(_state(archive), credential_id, verified.sign_count)
    return {"person": inv.person, "credential_id": credential_id, "aaguid": rec["aaguid"],
            "status": rec["status"]}


@people.records_refusals("people confirm-passkey")
def confirm_enrollment(archive: Any, actor: Actor, person_id: str, credential_id: str) -> dict:
    """An administrator confirms a pending credential: from now on it signs. Written to the
    ledger (binding the key's digest) and the credential published in the WORM store."""
    people.require_role(archive.catalog, actor, people.ADMINISTRATORS, "confirm passkeys")
    rec = records.find(archive.catalog, person_id, credential_id)
    if rec["status"] != records.PENDING:
        raise InputError(N_("passkey {credential} of {person} is {status}, not pending"),
                         subject=person_id, credential=rec["credential_id"], person=person_id,
                         status=Text(STATES.get(rec["status"], rec["status"])))
    records.check_with_ledger(archive.catalog, rec)
    return _public(records.confirm(archive, actor, rec))


@people.records_refusals("people revoke-passkey")
def revoke_credential(archive: Any, actor: Actor, person_id: str, credential_id: str) -> dict:
    """An administrator (or the person themselves) revokes a credential: nothing it signs
    from now on verifies; what it signed before keeps verifying."""
    if actor.person_id != person_id:
        people.require_role(archive.catalog, actor, people.ADMINISTRATORS, "revoke passkeys")
    rec = records.find(archive.catalog, person_id, credential_id)
    if rec["status"] == records.REVOKED_STATE:
        raise InputError(N_("passkey {credential} of {person} is already revoked"),
                         subject=person_id, credential=rec["credential_id"], person=person_id)
    return _public(records.revoke(archive, actor, rec))


def _public(rec: dict) -> dict:
    return {k: rec.get(k) for k in ("credential_id", "person", "aaguid", "status",
                                     "enrolled_at", "invited_by", "confirmed_at",
                                     "confirmed_by", "revoked_at", "revoked_by")} | {
        "key_sha256": key_digest(rec["public_key"])}


def credentials(archive: Any, person_id: str | None = None) -> list[dict]:
    """Every credential (of one person): id, person, aaguid, status, enrolled/confirmed/
    revoked times and by whom, the digest of its key; never working-state counters."""
    if person_id is not None:
        _person(archive, person_id)
    return [_public(r) for r in records.of_person(archive.catalog, person_id)]


# --- using a credential -----------------------------------------------------------------------
def _usable(archive: Any, credential: dict, kind: str) -> dict:
    """The catalog record of the credential an assertion names, if it may sign now."""
    cid = credential.get("id") if isinstance(credential, dict) else None
    rec = records.get(archive.catalog, cid) if isinstance(cid, str) else None
    if rec is None:
        raise _refuse(archive, kind, N_("this passkey is not registered here"))
    if rec["status"] == records.PENDING:
        raise _refuse(archive, kind, N_("this passkey is not confirmed yet: an administrator "
                                        "must confirm the enrollment"))
    if rec["status"] != records.ACTIVE:
        raise _refuse(archive, kind, N_("this passkey was revoked"))
    person = people.person_of(archive.catalog, rec["person"])
    if person is None or not person.enabled:
        raise _refuse(archive, kind, N_("{person} is disabled"), person=rec["person"])
    try:
        records.check_with_ledger(archive.catalog, rec)
    except IdentityError:
        challenges.count_failure(_state(archive), kind)
        raise
    handle = (credential.get("response") or {}).get("userHandle")
    if handle and handle != b64(user_handle(rec["person"])):
        raise _refuse(archive, kind, N_("the passkey answers for another person"))
    return rec


def _verify(archive: Any, rp: RelyingParty, credential: dict, rec: dict, challenge: bytes,
            kind: str) -> None:
    state = _state(archive)
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, credential_public_key=unb64(rec["public_key"]),
            credential_current_sign_count=challenges.sign_count(state, rec["credential_id"]),
            require_user_verification=True)
    except WebAuthnException as exc:
        raise _refuse(archive, kind, N_("the passkey signature does not verify: {reason}"),
                      reason=str(exc)) from exc
    challenges.set_sign_count(state, rec["credential_id"], verified.new_sign_count)


def begin_sign_in(archive: Any, rp: RelyingParty) -> dict:
    """``{"options": <PublicKeyCredentialRequestOptions, JSON-ready>, "state": str}``:
    discoverable credentials (no allow list), user verification required; ``state`` names
    the single-use challenge and goes back with the response."""
    check_rp(rp)
    options = generate_authentication_options(
        rp_id=rp.rp_id, timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED)
    sid = challenges.issue(_state(archive), SIGN_IN_PURPOSE, options.challenge,
                           {"rp_id": rp.rp_id, "origin": rp.origin})
    return {"options": _options(options), "state": sid}


def _challenge(archive: Any, state: str, purpose: str, kind: str) -> challenges.Challenge:
    ch, why = challenges.take(_state(archive), state, purpose)
    if ch is None or why is not None:
        reasons = {challenges.USED: N_("this request was already answered"),
                   challenges.EXPIRED: N_("this request took too long; try again")}
        raise _refuse(archive, kind, reasons.get(why or "",
                                                 N_("this request is not known here")))
    return ch


def finish_sign_in(archive: Any, rp: RelyingParty, state: str, credential: dict) -> SignIn:
    """Verify a sign-in assertion; refused (IdentityError, counted in aggregate, not stored one
    by one) for an unknown, pending or revoked credential, a used or expired challenge, a
    wrong origin or RP, no user verification, a disabled person. A good one is written to
    the ledger, signed by the console key, with the assertion itself."""
    check_rp(rp)
    ch = _challenge(archive, state, SIGN_IN_PURPOSE, "sign-in")
    rec = _usable(archive, credential, "sign-in")
    _verify(archive, rp, credential, rec, ch.challenge, "sign-in")
    actor = Actor(rec["person"], _console(archive),
                  evidence={"sign_in": assertion_of(credential, rp.rp_id, rp.origin)})
    entry = archive.ledger.append(actor, SIGN_IN, rec["person"],
                                  {"credential_id": rec["credential_id"]})
    return SignIn(rec["person"], rec["credential_id"], {
        "person": rec["person"], "credential_id": rec["credential_id"], "seq": entry.seq,
        "at": entry.at})


def begin_decision(archive: Any, rp: RelyingParty, person_id: str, action: str, subject: str,
                   details: dict) -> dict:
    """``{"options": {...}, "decision": <canonical record>, "state": str}``. The record holds
    the person, the action (the ledger action the service will write, e.g.
    ``access-approved``), the subject (the ledger subject, e.g. the request id), ``details``
    (what the person sees and agrees to), a server nonce, the issue time and the RP in force;
    the WebAuthn challenge is SHA-256 of its canonical form, and only this person's confirmed
    credentials are allowed."""
    check_rp(rp)
    person = _person(archive, person_id)
    if not person.enabled:
        raise IdentityError(N_("{person} is disabled"), subject=person_id, person=person_id)
    held = [r for r in records.of_person(archive.catalog, person_id)
            if r["status"] == records.ACTIVE]
    if not held:
        raise IdentityError(N_("{person} has no confirmed passkey to sign with"),
                            subject=person_id, person=person_id)
    record = {"type": DECISION_TYPE, "person": person_id, "action": action,
              "subject": subject, "details": details, "nonce": secrets.token_hex(16),
              "issued": iso(datetime.now(timezone.utc)), "rp_id": rp.rp_id,
              "origin": rp.origin}
    challenge = decision_challenge(record)
    options = generate_authentication_options(
        rp_id=rp.rp_id, challenge=challenge, timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=unb64(r["credential_id"]))
                           for r in held],
        user_verification=UserVerificationRequirement.REQUIRED)
    sid = challenges.issue(_state(archive), DECISION, challenge, {"record": record})
    return {"options": _options(options), "decision": record, "state": sid}


def finish_decision(archive: Any, rp: RelyingParty, state: str, credential: dict) -> Actor:
    """Verify the decision's assertion (its challenge used once) and return the Actor the
    existing service functions take: entries it appends are signed by the console key and
    carry the decision record and the WebAuthn evidence, which ``audit verify`` checks
    offline against the credential registered in the ledger."""
    check_rp(rp)
    ch = _challenge(archive, state, DECISION, "decision")
    record = ch.payload.get("record") or {}
    if decision_challenge(record) != ch.challenge or (
            record.get("rp_id"), record.get("origin")) != (rp.rp_id, rp.origin):
        raise _refuse(archive, "decision", N_("the decision changed after it was issued"))
    rec = _usable(archive, credential, "decision")
    if rec["person"] != record["person"]:
        raise _refuse(archive, "decision", N_("this passkey is not {person}'s"),
                      person=record["person"])
    _verify(archive, rp, credential, rec, ch.challenge, "decision")
    return Actor(record["person"], _console(archive), evidence={
        "decision": record, "webauthn": assertion_of(credential, rp.rp_id, rp.origin)})


def console_actor(archive: Any, person_id: str, sign_in: dict) -> Actor:
    """The Actor for what a signed-in person does that is not a decision (search, view,
    download, a request): entries signed by the console key naming the person and the
    sign-in (``SignIn.assertion``) that opened the session; reported as console-attested.
    Refused once the credential is revoked or the person disabled (the session ends)."""
    if not isinstance(sign_in, dict) or sign_in.get("person") != person_id:
        raise IdentityError(N_("the session is not {person}'s"), subject=person_id,
                            person=person_id)
    rec = records.get(archive.catalog, sign_in.get("credential_id") or "")
    person = people.person_of(archive.catalog, person_id)
    if rec is None or rec["status"] != records.ACTIVE or person is None or not person.enabled:
        raise IdentityError(N_("the session of {person} has ended: their passkey was "
                               "revoked or they were disabled"), subject=person_id,
                            person=person_id)
    return Actor(person_id, _console(archive), evidence={
        "session": {"sign_in_seq": sign_in.get("seq"),
                    "credential_id": rec["credential_id"]}})


def failures(archive: Any, seconds: float = 600) -> dict:
    """Failed ceremonies by kind (invite, enroll, sign-in, decision) over the last
    ``seconds``: what a rate limit reads."""
    return challenges.failures(_state(archive), seconds)

