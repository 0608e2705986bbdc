"""What makes a console entry verifiable years later, offline, from the ledger alone.

Entries of the ledger made at the web console are signed by the console's registered Ed25519
key, never by a key of the person (no person's private key is on the server). What proves the
person is in the entry's details under ``console``:

- a **decision** (approve, deny, appraise, witness, confirm, …) carries the canonical decision
  record and the WebAuthn assertion over it: the challenge is SHA-256 of the record, so the
  person's authenticator signed exactly that record (its nonce and issue time included);
- a **sign-in** carries the WebAuthn assertion that opened the session;
- anything else (a search, a view, a download) names the sign-in entry of its session:
  attested by the console, not signed by the person.

The credentials themselves are read from the ledger too: ``passkey-enrolled`` (the public key,
its id and the authenticator model, recorded by the console), ``passkey-confirmed`` (an
administrator binding the key's digest) and ``passkey-revoked``; a console key from its
``console-key-registered`` entry. A credential signs from its confirmation until its
revocation, counted in ledger positions (no clock to trust); the catalog's copy of a
credential and the WORM store's are checked against the ledger's, so editing the catalog
cannot swap a key.

This module imports nothing of the ledger (``chain`` calls it), so no circle.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from webauthn import verify_authentication_response
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException

from archive.domain.canonical import canonical
from archive.integrity.signing import key_id_of
from i18n import N_, Text

CONSOLE_ACTOR = "custody-console"  # the ledger actor of what the console records itself
ARCHIVE_ACTOR = "custody"  # the archive's own entries (people.SYSTEM_ACTOR): it registers them
EVIDENCE = "console"  # the details key of the evidence
CONSOLE_KEY_REGISTERED = "console-key-registered"
ENROLLED, CONFIRMED, REVOKED = "passkey-enrolled", "passkey-confirmed", "passkey-revoked"
# the people entries archive/people.py writes, and the role that confirms passkeys there
PERSON_REGISTERED, PERSON_DISABLED, PERSON_ENABLED = ("person-registered", "person-disable",
                                                      "person-enable")
ADMINISTRATOR = "administrator"
SIGN_IN = "console-sign-in"
DECISION_TYPE = "custody.passkey-decision"
# how long after its issue a decision may be written: the challenge's own life (5 minutes) and
# the service's work after it
DECISION_WINDOW = timedelta(minutes=15)
# decisions (what the command line signs with a person's own key): at the console they need
# the person's passkey; the console's attestation alone never makes one
DECISION_ACTIONS = frozenset({
    "access-approved", "access-denied", "dispose-approve", "dispose-reject", "dispose-witness",
    "dispose-execute", "dispose-propose", "dispose-take-out", "flag", "flag-confirm",
    "flag-withdraw", "case-close", "case-link", "case-register", "metadata-version",
    "transfer-accepted", "transfer-prepared", "inspection", "inspection-resolved",
    "year-finalized", "person-registered", "person-disable", "person-enable", "person-rekey",
    "person-grant", "person-revoke", CONFIRMED, REVOKED})
# a refusal of a decision is written with the decision's own evidence, under another action
REFUSALS = frozenset({"refused", "access-refused"})


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


def unb64(text: str) -> bytes:
    return base64url_to_bytes(text)


def key_digest(public_key: str) -> str:
    """SHA-256 of a credential public key (COSE, base64url) — what a confirmation binds."""
    return hashlib.sha256(unb64(public_key)).hexdigest()


def decision_challenge(record: dict) -> bytes:
    """The WebAuthn challenge of a decision: SHA-256 of its canonical record."""
    return hashlib.sha256(canonical(record)).digest()


def assertion_of(credential: dict, rp_id: str, origin: str) -> dict:
    """What is kept of an assertion (``navigator.credentials.get()`` as JSON): enough to
    verify it again without anything else but the credential's public key."""
    response = credential.get("response") or {}
    return {"credential_id": credential.get("id"),
            "authenticator_data": response.get("authenticatorData"),
            "client_data_json": response.get("clientDataJSON"),
            "signature": response.get("signature"),
            "user_handle": response.get("userHandle"), "rp_id": rp_id, "origin": origin}


def verify_assertion(assertion: dict, public_key: str,
                     challenge: bytes | None) -> str | Text | None:
    """Why the kept assertion does not verify (None when it does) under ``public_key``: the
    signature over authenticatorData and the client data, ``challenge`` (None: the one the
    client data names, for a sign-in whose random challenge nobody kept), the RP ID hash,
    the origin in force and its host under the RP ID, user presence and verification."""
    try:
        rp_id, origin = assertion["rp_id"], assertion["origin"]
        host = urlsplit(origin).hostname or ""
        if host != rp_id and not host.endswith("." + rp_id):
            return Text(N_("the origin {origin} is not under the RP ID {rp_id}"), origin=origin,
                        rp_id=rp_id)
        client = json.loads(unb64(assertion["client_data_json"]))
        expected = challenge if challenge is not None else unb64(client["challenge"])
        verify_authentication_response(
            credential={"id": assertion["credential_id"], "rawId": assertion["credential_id"],
                        "type": "public-key",
                        "response": {"authenticatorData": assertion["authenticator_data"],
                                     "clientDataJSON": assertion["client_data_json"],
                                     "signature": assertion["signature"]}},
            expected_challenge=expected, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=unb64(public_key), credential_current_sign_count=0,
            require_user_verification=True)
    except WebAuthnException as exc:
        return str(exc)
    except (KeyError, TypeError, ValueError) as exc:
        return Text(N_("the assertion is incomplete or malformed ({error})"),
                    error=exc.__class__.__name__)
    return None


@dataclass
class Credential:
    """A credential as the ledger registered it; positions are ledger sequence numbers."""

    credential_id: str
    person: str
    public_key: str
    aaguid: str
    enrolled_seq: int
    confirmed_seq: int | None = None
    revoked_seq: int | None = None

    def valid_at(self, seq: int) -> bool:
        return (self.confirmed_seq is not None and self.confirmed_seq < seq
                and (self.revoked_seq is None or seq < self.revoked_seq))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Attestations:
    """Reads the ledger in order: the console keys and credentials it registered, and every
    console-signed entry checked by the passkey rules. Counts what it saw, for the report."""

    def __init__(self) -> None:
        self.console_keys: dict[str, Ed25519PublicKey] = {}
        self.credentials: dict[str, Credential] = {}
        self.sign_ins: dict[int, tuple[str, str]] = {}  # seq -> (person, credential id)
        # decision nonce -> (seq, subject) of the entry that made the decision
        self.nonces: dict[str, tuple[int, str]] = {}
        self.counts = {"passkey_signed": 0, "console_attested": 0}
        # people's roles and who is disabled, as the ledger registered them: a confirmation
        # counts only when an enabled administrator made it (not only when the catalog,
        # which could be edited, says so)
        self.roles: dict[str, set[str]] = {}
        self.disabled: set[str] = set()

    # --- what the ledger registers ---------------------------------------------------------
    def signed_by_console(self, entry: Any) -> bool:
        return entry.actor_key_id in self.console_keys

    def observe(self, entry: Any) -> list[tuple[str, Text]]:
        """Take a verified entry's registrations; the problems they show (a confirmation of
        another key than the one enrolled, a credential of somebody else)."""
        d = entry.details or {}
        if entry.action == PERSON_REGISTERED:
            self.roles[entry.subject] = set(d.get("roles") or [])
            return []
        if entry.action in (PERSON_DISABLED, PERSON_ENABLED):
            (self.disabled.add if entry.action == PERSON_DISABLED
             else self.disabled.discard)(entry.subject)
            return []
        if entry.action == CONSOLE_KEY_REGISTERED and entry.actor == ARCHIVE_ACTOR:
            try:
                key = serialization.load_pem_public_key(d["public_key"].encode())
            except (KeyError, ValueError, TypeError, AttributeError):
                return [("bad-console-key", Text(N_(
                    "entry {seq}: the console key it registers is unreadable"), seq=entry.seq))]
            if not isinstance(key, Ed25519PublicKey) or key_id_of(key) != entry.subject:
                return [("bad-console-key", Text(N_(
                    "entry {seq}: the console key it registers is not the Ed25519 key its id "
                    "names"), seq=entry.seq))]
            self.console_keys[entry.subject] = key
            return []
        if entry.action == ENROLLED and entry.actor == CONSOLE_ACTOR:
            cid = d.get("credential_id") or entry.subject
            if cid in self.credentials:
                return [("credential-reenrolled", Text(N_(
                    "entry {seq}: credential {credential} was enrolled before; the first "
                    "enrollment stands"), seq=entry.seq, credential=cid))]
            self.credentials[cid] = Credential(cid, d.get("person", ""), d.get("public_key", ""),
                                               d.get("aaguid", ""), entry.seq)
            return []
        if entry.action in (CONFIRMED, REVOKED):
            cid = d.get("credential_id", "")
            cred = self.credentials.get(cid)
            if cred is None or cred.person != entry.subject:
                return [("unknown-credential", Text(N_(
                    "entry {seq}: {action} of credential {credential}, which the ledger never "
                    "enrolled for {person}"), seq=entry.seq, action=entry.action,
                    credential=cid, person=entry.subject))]
            if entry.action == CONFIRMED:
                if d.get("key_sha256") != key_digest(cred.public_key):
                    return [("credential-key-mismatch", Text(N_(
                        "entry {seq}: the confirmation of credential {credential} binds another "
                        "key than the one enrolled"), seq=entry.seq, credential=cid))]
                if (ADMINISTRATOR not in self.roles.get(entry.actor, ())
                        or entry.actor in self.disabled):
                    return [("confirmer-not-administrator", Text(N_(
                        "entry {seq}: credential {credential} of {person} was confirmed by "
                        "{actor}, who was not an enabled administrator in the ledger then; "
                        "the credential signs nothing"), seq=entry.seq, credential=cid,
                        person=entry.subject, actor=entry.actor))]
                if cred.confirmed_seq is None:
                    cred.confirmed_seq = entry.seq
            elif cred.revoked_seq is None:
                cred.revoked_seq = entry.seq
        return []

    # --- console-signed entries -------------------------------------------------------------
    def check(self, entry: Any) -> list[tuple[str, Text]]:
        """The problems of a console-signed entry (none: it verifies, and its registrations
        are taken)."""
        key = self.console_keys[entry.actor_key_id]
        try:
            key.verify(base64.b64decode(entry.actor_signature, validate=True),
                       entry.hash.encode())
        except (InvalidSignature, ValueError):
            return [("bad-signature", Text(N_(
                "entry {seq}: the console's signature does not verify with its registered key"),
                seq=entry.seq))]
        if entry.actor == CONSOLE_ACTOR:
            if entry.action in DECISION_ACTIONS:
                return [("unsigned-decision", Text(N_(
                    "entry {seq} ({action}) is a decision the console recorded without any "
                    "person's signature"), seq=entry.seq, action=entry.action))]
            self.counts["console_attested"] += 1
            return self.observe(entry)
        ev = (entry.details or {}).get(EVIDENCE)
        if not isinstance(ev, dict):
            return [("console-unattested", Text(N_(
                "entry {seq}: signed by the console for {person} with no passkey evidence and "
                "no session"), seq=entry.seq, person=entry.actor))]
        if "decision" in ev:
            problems = self._decision(entry, ev)
        elif entry.action == SIGN_IN:
            problems = self._sign_in(entry, ev)
        else:
            problems = self._session(entry, ev)
        return problems or self.observe(entry)

    def _credential(self, entry: Any, assertion: dict) -> tuple[Credential | None, Text | None]:
        cid = assertion.get("credential_id") if isinstance(assertion, dict) else None
        cred = self.credentials.get(cid or "")
        if cred is None:
            return None, Text(N_("credential {credential} was never enrolled in the ledger"),
                              credential=cid)
        if cred.person != entry.actor:
            return None, Text(N_("credential {credential} is {owner}'s, not {person}'s"),
                              credential=cid, owner=cred.person, person=entry.actor)
        if cred.confirmed_seq is None or cred.confirmed_seq > entry.seq:
            return None, Text(N_("credential {credential} was not confirmed when entry {seq} "
                                 "was signed"), credential=cid, seq=entry.seq)
        if not cred.valid_at(entry.seq):
            return None, Text(N_("credential {credential} was revoked at entry {revoked}, "
                                 "before entry {seq} was signed"), credential=cid,
                              revoked=cred.revoked_seq, seq=entry.seq)
        return cred, None

    def _decision(self, entry: Any, ev: dict) -> list[tuple[str, Text]]:
        record, assertion = ev.get("decision"), ev.get("webauthn") or {}
        if not isinstance(record, dict) or record.get("type") != DECISION_TYPE:
            return [("bad-passkey", Text(N_("entry {seq}: the decision record is malformed"),
                                         seq=entry.seq))]
        cred, why = self._credential(entry, assertion)
        if cred is None:
            return [("passkey-invalid", Text(N_("entry {seq}: {reason}"), seq=entry.seq,
                                             reason=why))]
        failed = verify_assertion(assertion, cred.public_key, decision_challenge(record))
        if failed is not None:
            return [("bad-passkey", Text(N_(
                "entry {seq} ({action} {subject}): the passkey signature of {person} does not "
                "verify: {reason}"), seq=entry.seq, action=entry.action, subject=entry.subject,
                person=entry.actor, reason=failed))]
        if record.get("person") != entry.actor:
            return [("bad-passkey", Text(N_(
                "entry {seq}: the decision was signed by {signer}, the entry names {person}"),
                seq=entry.seq, signer=record.get("person"), person=entry.actor))]
        signed = record.get("details") if isinstance(record.get("details"), dict) else {}
        # One decision may cover several entries, each named in what the person signed:
        # "entries" {subject: details} for several subjects of its action (every case of an
        # imported register), "consequences" for other decision actions it brings about
        # (the evidence flags a case link raises where evidence is kept permanently).
        many = signed.get("entries") if isinstance(signed.get("entries"), dict) else None
        subjects = many if many is not None else {record.get("subject"): signed}
        consequence = (entry.action != record.get("action")
                       and entry.action in (signed.get("consequences") or ()))
        # the decision itself (not a refusal of it, nor what the service writes as its
        # consequence, e.g. the deletions of an executed disposal) is the one signed, once
        decides = entry.action not in REFUSALS and not consequence and (
            entry.action in DECISION_ACTIONS or entry.action == record.get("action"))
        if decides and (entry.subject not in subjects or record.get("action") != entry.action):
            return [("decision-mismatch", Text(N_(
                "entry {seq} ({action} {subject}) carries a decision for {decided} "
                "{decided_subject}"), seq=entry.seq, action=entry.action, subject=entry.subject,
                decided=record.get("action"), decided_subject=record.get("subject")))]
        if decides and many is not None:
            signed = many[entry.subject] if isinstance(many[entry.subject], dict) else {}
        differ = sorted(k for k in set(signed) & set(entry.details or {})
                        if k != EVIDENCE and signed[k] != entry.details[k])
        if differ and decides:
            return [("decision-mismatch", Text(N_(
                "entry {seq} ({action} {subject}) records {fields} otherwise than the person "
                "signed"), seq=entry.seq, action=entry.action, subject=entry.subject,
                fields=", ".join(differ)))]
        try:
            age = _time(entry.at) - _time(record["issued"])
        except (KeyError, TypeError, ValueError):
            return [("bad-passkey", Text(N_("entry {seq}: the decision has no issue time"),
                                         seq=entry.seq))]
        if not timedelta(seconds=-5) <= age <= DECISION_WINDOW:
            return [("decision-stale", Text(N_(
                "entry {seq}: written {age} after its decision was issued (at most {window})"),
                seq=entry.seq, age=str(age), window=str(DECISION_WINDOW)))]
        # once per subject where one decision names several
        nonce = record.get("nonce", "") + (f" {entry.subject}" if many is not None else "")
        first = self.nonces.get(nonce)
        if decides and first is not None:
            return [("decision-replayed", Text(N_(
                "entry {seq}: its decision was already used for entry {first} ({subject})"),
                seq=entry.seq, first=first[0], subject=first[1]))]
        if decides:
            self.nonces[nonce] = (entry.seq, entry.subject)
        self.counts["passkey_signed"] += 1
        return []

    def _sign_in(self, entry: Any, ev: dict) -> list[tuple[str, Text]]:
        assertion = ev.get("sign_in") or {}
        cred, why = self._credential(entry, assertion)
        if cred is None:
            return [("passkey-invalid", Text(N_("entry {seq}: {reason}"), seq=entry.seq,
                                             reason=why))]
        failed = verify_assertion(assertion, cred.public_key, None)
        if failed is not None:
            return [("bad-passkey", Text(N_(
                "entry {seq}: the sign-in assertion of {person} does not verify: {reason}"),
                seq=entry.seq, person=entry.actor, reason=failed))]
        self.sign_ins[entry.seq] = (entry.actor, cred.credential_id)
        self.counts["passkey_signed"] += 1
        return []

    def _session(self, entry: Any, ev: dict) -> list[tuple[str, Text]]:
        if entry.action in DECISION_ACTIONS:
            return [("unsigned-decision", Text(N_(
                "entry {seq} ({action}) is a decision of {person} without their passkey "
                "signature"), seq=entry.seq, action=entry.action, person=entry.actor))]
        session = ev.get("session") or {}
        opened = self.sign_ins.get(session.get("sign_in_seq"))
        if opened is None or opened[0] != entry.actor:
            return [("console-unattested", Text(N_(
                "entry {seq}: signed by the console for {person}, naming no sign-in of theirs"),
                seq=entry.seq, person=entry.actor))]
        self.counts["console_attested"] += 1
        return []


def credential_problems(records: Iterable[dict], seen: Attestations,
                        published: dict[str, dict]) -> list[tuple[str, Text]]:
    """The catalog's credentials (``records``) and the WORM store's (``published``, by
    credential id) against the ledger's: a key swapped in either is named, and a confirmed
    credential the store does not hold."""
    out: list[tuple[str, Text]] = []
    for rec in records:
        cid = rec.get("credential_id", "")
        cred = seen.credentials.get(cid)
        if cred is None:
            out.append(("credential-unregistered", Text(N_(
                "credential {credential} of {person} in the catalog was never enrolled in the "
                "ledger"), credential=cid, person=rec.get("person"))))
        elif rec.get("public_key") != cred.public_key or rec.get("person") != cred.person:
            out.append(("credential-key-swapped", Text(N_(
                "credential {credential} of {person}: the catalog's public key or person differs "
                "from the one the ledger enrolled"), credential=cid, person=cred.person)))
    for cid, cred in seen.credentials.items():
        if cred.confirmed_seq is not None and cid not in published:
            out.append(("credential-unpublished", Text(N_(
                "credential {credential} of {person} was confirmed but is not published in "
                "the WORM store"), credential=cid, person=cred.person)))
    for cid, doc in published.items():
        cred = seen.credentials.get(cid)
        if cred is None or doc.get("public_key") != cred.public_key \
                or doc.get("person") != cred.person:
            out.append(("credential-key-swapped", Text(N_(
                "credential {credential}: the copy published in the WORM store differs from the "
                "one the ledger enrolled"), credential=cid)))
    return out


KIND = "passkey"  # catalog "meta" records of credentials
PUBLISHED_PREFIX = "keys/passkeys/"  # the WORM store's copies, one per confirmed credential


def catalog_credentials(catalog: Any) -> list[dict]:
    return catalog.list_records("meta", kind=KIND)


def published_credentials(store: Any) -> dict[str, dict]:
    """The credentials published in the WORM store, by credential id (unreadable ones left
    out: the ledger comparison names what is missing nowhere, only what differs)."""
    out: dict[str, dict] = {}
    for key, version_id, _size in store.list_keys(PUBLISHED_PREFIX):
        try:
            doc = json.loads(store.read_bytes(key, version_id))["credential"]
            out[doc["credential_id"]] = doc
        except (ValueError, KeyError, TypeError):
            continue
    return out
