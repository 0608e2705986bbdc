"""Passkeys (issue 15, identity): invite → enroll → confirm → sign in → a decision signed with
the passkey through the existing access service → the ledger verifies it offline; and every
refusal: invites expired or used, credentials pending or revoked, replayed assertions, the
challenge of another decision, a wrong origin or RP, no user verification, keys swapped in
the catalog or the store, decision records changed after signing. Real WebAuthn responses
from a software authenticator (tests/support/authenticator.py), real SQLite and WORM files."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import pytest

import archive.access.requests as access
from archive import people
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import IdentityError, InputError, NotFound
from archive.domain.model import LedgerEntry
from archive.ledger.chain import Actor, entry_hash
from archive.passkeys import evidence, records
from archive.passkeys import service as passkeys
from archive.passkeys.service import RelyingParty
from tests.support.access import access_team, add_person
from tests.support.archives import ledger_knows_administrator
from tests.support.authenticator import Authenticator, other_key, swap_credential_key
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.worm import release_all_for_tests
from working import invites
from working.db import WorkingState

RP = RelyingParty("console.bureau.test", "https://console.bureau.test")
CTX = access.AccessContext(approver_position=lambda unit: "局领导")


@pytest.fixture
def team(tmp_path):
    catalog = SQLiteCatalog(tmp_path / "catalog.sqlite")
    s = access_team(tmp_path, catalog)
    passkeys.attach(s.archive, tmp_path / "home")
    ledger_knows_administrator(s.archive, s.actor)  # who confirms passkeys, as init makes it
    # a leader of the console only: no OS account, no key on this machine
    people.add_person(s.archive, s.actor, "B2", "局长", None, ["approver"],
                      positions=["局领导"])
    yield s
    catalog.close()
    release_all_for_tests(tmp_path)


def enroll(s, person_id: str = "B2", device: Authenticator | None = None,
           confirm: bool = True) -> tuple[Authenticator, str]:
    device = device or Authenticator()
    token = passkeys.invite(s.archive, s.actor, person_id)["token"]
    begun = passkeys.begin_enrollment(s.archive, RP, token)
    done = passkeys.finish_enrollment(s.archive, RP, token,
                                      device.create(begun["options"], RP.origin))
    if confirm:
        ledger_knows_administrator(s.archive, s.actor)
        passkeys.confirm_enrollment(s.archive, s.actor, person_id, done["credential_id"])
    return device, done["credential_id"]


def sign_in(s, device: Authenticator, **wrong) -> passkeys.SignIn:
    begun = passkeys.begin_sign_in(s.archive, RP)
    origin = wrong.pop("origin", RP.origin)
    return passkeys.finish_sign_in(s.archive, RP, begun["state"],
                                   device.get(begun["options"], origin, **wrong))


def request(s) -> dict:
    return access.create_request(s.archive, s.officer, "复核", "view", items=[s.items["a"]])


def approval(s, req: dict, person_id: str = "B2") -> dict:
    return passkeys.begin_decision(s.archive, RP, person_id, "access-approved", req["id"],
                                   {"decision": "approved", "note": "同意"})


def audit(s) -> dict:
    return s.archive.verify_ledger().to_dict()


def codes(report: dict) -> set[str]:
    return {p["code"] for p in report["problems"]}


def rewrite_entry(s, seq: int, change) -> None:
    """Edit a ledger row as somebody with the database file would, re-hashing it (the chain
    and checkpoints are not what this checks: the passkey evidence is)."""
    row = next(iter(s.catalog.ledger_entries(seq)))
    doc = row.to_dict()
    change(doc)
    edited = LedgerEntry.from_dict(doc)
    db = sqlite3.connect(s.catalog.path)
    db.execute("UPDATE ledger SET details = ?, hash = ? WHERE seq = ?",
               (json.dumps(edited.details), entry_hash(edited), seq))
    db.commit()
    db.close()


# --- the journey --------------------------------------------------------------------------
def test_invite_enroll_confirm_sign_in_and_approve_with_the_passkey(team):
    s = team
    device, cid = enroll(s, confirm=False)
    listed = passkeys.credentials(s.archive, "B2")
    assert [(c["credential_id"], c["status"]) for c in listed] == [(cid, "pending")]
    assert listed[0]["aaguid"] == "6d44ba9b-f6ec-2e49-b930-0c8fe920cb73"
    passkeys.confirm_enrollment(s.archive, s.actor, "B2", cid)
    assert passkeys.credentials(s.archive)[0]["status"] == "confirmed"

    signed_in = sign_in(s, device)
    assert (signed_in.person_id, signed_in.credential_id) == ("B2", cid)
    viewer = passkeys.console_actor(s.archive, "B2", signed_in.assertion)
    s.archive.ledger.append(viewer, "console-search", "-", {"query": "party=王五"})

    req = request(s)
    begun = approval(s, req)
    record = begun["decision"]
    assert record["person"] == "B2" and record["subject"] == req["id"] and record["nonce"]
    assert begun["options"]["challenge"] == evidence.b64(evidence.decision_challenge(record))
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    assert actor.key.key_id == s.archive.console_key.key_id  # no key of B2 on the server
    done = access.decide(s.archive, actor, req["id"], True, "同意", CTX)
    assert done["status"] == "approved"
    assert access.verify_decision(s.catalog, done["decision"])

    entry = next(iter(s.catalog.ledger_entries(done["decision_ledger_seq"])))
    assert entry.actor == "B2" and entry.action == "access-approved"
    proof = entry.details["console"]
    assert proof["decision"] == record
    assert set(proof["webauthn"]) >= {"credential_id", "authenticator_data",
                                      "client_data_json", "signature", "rp_id", "origin"}
    report = audit(s)
    assert report["ok"], report["problems"]
    # the sign-in and the approval are the person's; the search and the enrollment the
    # console's
    assert report["attested"] == {"passkey_signed": 2, "console_attested": 2}
    # the credential is in the WORM store, as the ledger registered it
    published = evidence.published_credentials(s.store)
    assert published[cid]["person"] == "B2"


def test_a_request_made_and_approved_at_the_console_is_usable(team):
    s = team
    people.add_person(s.archive, s.actor, "O2", "执法员乙", None, ["officer"])
    officer, _ = enroll(s, "O2")
    leader, _ = enroll(s)
    asking = passkeys.console_actor(s.archive, "O2", sign_in(s, officer).assertion)
    req = access.create_request(s.archive, asking, "复核", "view", items=[s.items["a"]])
    assert access.verify_request(s.catalog, req)
    begun = approval(s, req)
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     leader.get(begun["options"], RP.origin))
    done = access.decide(s.archive, actor, req["id"], True, "同意", CTX)
    assert access.usable_problem(s.catalog, done, s.items["a"], "view") is None
    # a console signature counts only for people who sign at the console
    console = s.archive.console_key
    forged = dict(req, requester="O1")  # O1 signs at the command line only
    forged["signature"] = {"key_id": console.key_id,
                           "signature": console.sign(access.request_body(forged))}
    assert not access.verify_request(s.catalog, forged)
    mine = dict(req)
    mine["signature"] = {"key_id": console.key_id,
                         "signature": console.sign(access.request_body(mine))}
    assert access.verify_request(s.catalog, mine)
    report = audit(s)
    assert report["ok"], report["problems"]


def test_the_console_key_is_registered_once_like_a_station_key(team, tmp_path):
    from archive.passkeys import console_key

    s = team
    enroll(s)
    key = s.archive.console_key
    assert (tmp_path / "home" / "keys" / "console.key").stat().st_mode & 0o777 == 0o600
    reg = console_key.registration(s.catalog, key.key_id)
    assert reg["fingerprint"] and reg["public_key"]
    assert [k for k, _v, _n in s.store.list_keys(console_key.PREFIX)] == [reg["store_key"]]
    again = passkeys.attach(SimpleNamespace(catalog=s.catalog, store=s.store,
                                            ledger=s.archive.ledger, key=s.archive.key,
                                            checkpoint_years=1), tmp_path / "home")
    assert passkeys._console(again).key_id == key.key_id  # another process: the same key
    registered = [e for e in s.catalog.ledger_entries()
                  if e.action == evidence.CONSOLE_KEY_REGISTERED]
    assert [(e.actor, e.subject) for e in registered] == [("custody", key.key_id)]


def test_two_identical_decisions_never_share_a_challenge(team):
    s = team
    enroll(s)
    req = request(s)
    first, second = approval(s, req), approval(s, req)
    assert first["decision"]["nonce"] != second["decision"]["nonce"]
    assert first["options"]["challenge"] != second["options"]["challenge"]


def test_more_than_one_passkey_and_re_enrollment_after_a_loss(team):
    s = team
    lost, old = enroll(s)
    spare, new = enroll(s)
    passkeys.revoke_credential(s.archive, s.actor, "B2", old)
    with pytest.raises(IdentityError, match="revoked"):
        sign_in(s, lost)
    assert sign_in(s, spare).credential_id == new
    assert audit(s)["ok"]


# --- invitations ----------------------------------------------------------------------------
def test_an_invitation_is_used_once_and_keeps_only_its_hash(team, tmp_path):
    s = team
    token = passkeys.invite(s.archive, s.actor, "B2")["token"]
    raw = (tmp_path / "home" / "working.db").read_bytes()
    assert token.encode() not in raw
    device = Authenticator()
    begun = passkeys.begin_enrollment(s.archive, RP, token)
    passkeys.finish_enrollment(s.archive, RP, token, device.create(begun["options"], RP.origin))
    with pytest.raises(IdentityError, match="already used"):
        passkeys.begin_enrollment(s.archive, RP, token)
    with pytest.raises(IdentityError, match="already used"):
        passkeys.finish_enrollment(s.archive, RP, token,
                                   device.create(begun["options"], RP.origin))
    assert passkeys.failures(s.archive)["invite"] == 2


def test_an_expired_or_unknown_invitation_is_refused(team):
    s = team
    state = s.archive.working
    token, _inv = invites.create(state, "B2", "P000", valid_seconds=-1)
    with pytest.raises(IdentityError, match="expired"):
        passkeys.begin_enrollment(s.archive, RP, token)
    with pytest.raises(IdentityError, match="not valid"):
        passkeys.begin_enrollment(s.archive, RP, "made-up")


def test_only_an_administrator_invites_and_confirms(team):
    s = team
    with pytest.raises(IdentityError, match="may not invite"):
        passkeys.invite(s.archive, s.officer, "B2")
    _device, cid = enroll(s, confirm=False)
    with pytest.raises(IdentityError, match="may not confirm"):
        passkeys.confirm_enrollment(s.archive, s.officer, "B2", cid)
    refused = [e for e in s.catalog.ledger_entries() if e.action == "refused"]
    assert [e.details["attempted"] for e in refused] == ["people invite",
                                                         "people confirm-passkey"]
    with pytest.raises(NotFound):
        passkeys.confirm_enrollment(s.archive, s.actor, "O1", cid)  # not O1's
    with pytest.raises(InputError, match="hours"):
        passkeys.invite(s.archive, s.actor, "B2", valid_hours=0)


def test_an_ip_address_is_no_rp_id(team):
    with pytest.raises(InputError, match="IP address"):
        passkeys.begin_sign_in(team.archive, RelyingParty("10.1.2.3", "https://10.1.2.3"))
    with pytest.raises(InputError, match="not on the RP ID"):
        passkeys.begin_sign_in(team.archive, RelyingParty(RP.rp_id, "https://evil.test"))
    # a subdomain's origin is on its RP ID
    assert passkeys.begin_sign_in(team.archive, RelyingParty(
        "bureau.test", "https://console.bureau.test:8443"))["state"]


def test_a_registration_without_user_verification_is_refused(team):
    s = team
    token = passkeys.invite(s.archive, s.actor, "B2")["token"]
    begun = passkeys.begin_enrollment(s.archive, RP, token)
    with pytest.raises(IdentityError, match="does not verify"):
        passkeys.finish_enrollment(s.archive, RP, token,
                                   Authenticator().create(begun["options"], RP.origin, uv=False))
    assert passkeys.credentials(s.archive, "B2") == []
    # the link is still good for a proper try
    begun = passkeys.begin_enrollment(s.archive, RP, token)
    passkeys.finish_enrollment(s.archive, RP, token,
                               Authenticator().create(begun["options"], RP.origin))


# --- signing in ----------------------------------------------------------------------------
def test_an_unconfirmed_passkey_signs_nothing(team):
    s = team
    device, _cid = enroll(s, confirm=False)
    with pytest.raises(IdentityError, match="not confirmed"):
        sign_in(s, device)
    with pytest.raises(IdentityError, match="no confirmed passkey"):
        approval(s, request(s))


def test_a_replayed_assertion_is_refused(team):
    s = team
    device, _cid = enroll(s)
    begun = passkeys.begin_sign_in(s.archive, RP)
    answer = device.get(begun["options"], RP.origin)
    passkeys.finish_sign_in(s.archive, RP, begun["state"], answer)
    with pytest.raises(IdentityError, match="already answered"):
        passkeys.finish_sign_in(s.archive, RP, begun["state"], answer)
    # nor does it open another challenge's sign-in
    other = passkeys.begin_sign_in(s.archive, RP)
    with pytest.raises(IdentityError, match="does not verify"):
        passkeys.finish_sign_in(s.archive, RP, other["state"], answer)


@pytest.mark.parametrize("wrong, why", [
    ({"origin": "https://evil.test"}, "origin"),
    ({"rp_id": "evil.test"}, "RP ID"),
    ({"uv": False}, "verification"),
    ({"up": False}, "not present"),
])
def test_a_sign_in_from_elsewhere_or_without_verification_is_refused(team, wrong, why):
    s = team
    device, _cid = enroll(s)
    with pytest.raises(IdentityError, match=why):
        sign_in(s, device, **wrong)
    assert passkeys.failures(s.archive)["sign-in"] == 1
    signed_in = [e for e in s.catalog.ledger_entries() if e.action == "console-sign-in"]
    assert signed_in == []  # a failure is counted, not stored one by one


def test_an_unknown_passkey_and_an_ended_session_are_refused(team):
    s = team
    device, cid = enroll(s)
    stranger = Authenticator()
    stranger.create({"rp": {"id": RP.rp_id}, "user": {"id": "AAAA"}, "challenge": "AAAA"},
                    RP.origin)
    with pytest.raises(IdentityError, match="not registered"):
        sign_in(s, stranger)
    session = sign_in(s, device).assertion
    passkeys.revoke_credential(s.archive, s.actor, "B2", cid)
    with pytest.raises(IdentityError, match="ended"):
        passkeys.console_actor(s.archive, "B2", session)
    with pytest.raises(IdentityError, match="not O1's"):
        passkeys.console_actor(s.archive, "O1", session)


# --- decisions -----------------------------------------------------------------------------
def test_the_assertion_of_another_decision_is_refused(team):
    s = team
    device, _cid = enroll(s)
    req, other = request(s), request(s)
    mine, theirs = approval(s, req), approval(s, other)
    answer = device.get(theirs["options"], RP.origin)
    with pytest.raises(IdentityError, match="does not verify"):
        passkeys.finish_decision(s.archive, RP, mine["state"], answer)


def test_a_decision_challenge_is_used_once(team):
    s = team
    device, _cid = enroll(s)
    begun = approval(s, request(s))
    answer = device.get(begun["options"], RP.origin)
    passkeys.finish_decision(s.archive, RP, begun["state"], answer)
    with pytest.raises(IdentityError, match="already answered"):
        passkeys.finish_decision(s.archive, RP, begun["state"], answer)


def test_a_revoked_passkey_decides_nothing(team):
    s = team
    device, cid = enroll(s)
    begun = approval(s, request(s))
    passkeys.revoke_credential(s.archive, s.actor, "B2", cid)
    with pytest.raises(IdentityError, match="revoked"):
        passkeys.finish_decision(s.archive, RP, begun["state"],
                                 device.get(begun["options"], RP.origin))


def test_another_persons_passkey_decides_nothing(team):
    s = team
    device, _cid = enroll(s)
    begun = approval(s, request(s))
    with pytest.raises(IdentityError, match="no confirmed passkey"):
        approval(s, request(s), person_id="L1")
    people.add_person(s.archive, s.actor, "B3", "副局长", None, ["approver"],
                      positions=["局领导"])
    theirs, _ = enroll(s, "B3")
    forged = theirs.get(begun["options"], RP.origin,
                        credential_id=next(iter(theirs.credentials)))
    with pytest.raises(IdentityError, match="not B2's"):
        passkeys.finish_decision(s.archive, RP, begun["state"], forged)


def test_the_requester_still_may_not_approve_their_own_request_by_passkey(team):
    s = team
    device, _cid = enroll(s)
    req = access.create_request(s.archive, passkeys.console_actor(
        s.archive, "B2", sign_in(s, device).assertion), "复核", "view", items=[s.items["a"]])
    begun = approval(s, req)
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    with pytest.raises(access.AccessRefused, match="own request"):
        access.decide(s.archive, actor, req["id"], True, "", CTX)
    report = audit(s)
    assert report["ok"], report["problems"]  # the refusal is signed by the passkey too


# --- what audit verify catches ----------------------------------------------------------------
def approved(s) -> tuple[dict, int]:
    device, _cid = enroll(s)
    req = request(s)
    begun = approval(s, req)
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    done = access.decide(s.archive, actor, req["id"], True, "同意", CTX)
    return done, done["decision_ledger_seq"]


def test_a_key_swapped_in_the_catalog_is_caught_and_signs_nobody_in(team):
    s = team
    device, cid = enroll(s)
    assert audit(s)["ok"]
    swap_credential_key(s.catalog, cid, other_key())
    assert "credential-key-swapped" in codes(audit(s))
    with pytest.raises(IdentityError, match="differs from the one the ledger registered"):
        sign_in(s, device)


def test_a_key_swapped_in_the_ledger_enrollment_is_caught(team):
    s = team
    _done, _seq = approved(s)
    enrolled = next(e for e in s.catalog.ledger_entries() if e.action == "passkey-enrolled")
    rewrite_entry(s, enrolled.seq,
                  lambda d: d["details"].update(public_key=other_key()))
    found = codes(audit(s))
    # the console's signature over the entry breaks, and the catalog's key no longer agrees
    assert {"bad-signature", "credential-key-swapped"} <= found


def test_a_passkey_confirmed_by_someone_not_an_administrator_signs_nothing(team):
    """A custody altered to skip the role check (or a hand-written ledger entry) lets an
    officer confirm a leader's passkey: audit verify reads the roles from the ledger's own
    person entries, names the confirmation, and the decisions that key signed fail too;
    a disabled administrator is no confirmer either."""
    s = team
    device, cid = enroll(s, confirm=False)
    rec = records.find(s.catalog, "B2", cid)
    records.confirm(s.archive, s.officer, rec)  # no require_role: the tampered path
    report = audit(s)
    assert "confirmer-not-administrator" in codes(report)
    assert any(cid in p["message"] and "O1" in p["message"] for p in report["problems"])
    begun = approval(s, request(s))
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    access.decide(s.archive, actor, begun["decision"]["subject"], True, "同意", CTX)
    assert "passkey-invalid" in codes(audit(s))  # never confirmed, as the ledger reads it


def test_a_disabled_administrator_confirms_nothing(team):
    s = team
    second = add_person(s, "AD2", ["administrator"])  # with a key, as people add makes one
    s.archive.ledger.append(s.actor, "person-registered", "AD2", {"roles": ["administrator"]})
    _device, cid = enroll(s, confirm=False)
    people.disable_person(s.archive, s.actor, "AD2")
    records.confirm(s.archive, second, records.find(s.catalog, "B2", cid))
    assert "confirmer-not-administrator" in codes(audit(s))
    people.enable_person(s.archive, s.actor, "AD2")
    _device, other = enroll(s, confirm=False)
    records.confirm(s.archive, second, records.find(s.catalog, "B2", other))
    found = [p for p in audit(s)["problems"] if p["code"] == "confirmer-not-administrator"]
    assert len(found) == 1 and cid in found[0]["message"]  # enabled again: confirms


@pytest.mark.parametrize("how", ["delete", "flip"])
def test_a_credential_missing_from_the_store_is_caught(team, how):
    from tests.support.damage import damage

    s = team
    _device, cid = enroll(s)
    assert audit(s)["ok"]
    ((key, vid, _size),) = list(s.store.list_keys(evidence.PUBLISHED_PREFIX))
    damage(s.store, key, vid, how)
    report = audit(s)
    assert codes(report) == {"credential-unpublished"}
    assert cid in report["problems"][0]["message"]


def test_a_decision_record_changed_after_signing_is_caught(team):
    s = team
    _done, seq = approved(s)
    assert audit(s)["ok"]

    def deny(d: dict) -> None:
        d["details"]["console"]["decision"]["details"]["note"] = "不同意"

    rewrite_entry(s, seq, deny)
    report = audit(s)
    assert "bad-signature" in codes(report)  # the console signed the entry as it was
    # and even a console that re-signed it could not make the passkey agree
    entry = next(iter(s.catalog.ledger_entries(seq)))
    seen = evidence.Attestations()
    for e in s.catalog.ledger_entries():
        if e.seq == seq:
            break
        if seen.signed_by_console(e):
            seen.check(e)
        else:
            seen.observe(e)
    assert [code for code, _ in seen._decision(entry, entry.details["console"])] == [
        "bad-passkey"]


def test_a_signature_outside_the_credentials_window_does_not_verify(team):
    s = team
    device, cid = enroll(s)
    begun = approval(s, request(s))
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    # the console writes the entry only after the credential was revoked
    passkeys.revoke_credential(s.archive, s.actor, "B2", cid)
    s.archive.ledger.append(actor, "access-approved", begun["decision"]["subject"], {})
    report = audit(s)
    assert "passkey-invalid" in codes(report)
    assert any("revoked" in p["message"] for p in report["problems"])


def test_a_decision_the_console_makes_alone_does_not_verify(team):
    s = team
    device, _cid = enroll(s)
    session = passkeys.console_actor(s.archive, "B2", sign_in(s, device).assertion)
    s.archive.ledger.append(session, "access-approved", "some-request", {})
    bare = Actor("B2", s.archive.console_key)
    s.archive.ledger.append(bare, "console-view", "some-item", {})
    assert {"unsigned-decision", "console-unattested"} <= codes(audit(s))


def test_a_decision_written_twice_is_caught_and_its_consequences_are_not(team):
    s = team
    device, _cid = enroll(s)
    begun = approval(s, request(s))
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    subject = begun["decision"]["subject"]
    s.archive.ledger.append(actor, "access-approved", subject, {})
    s.archive.ledger.append(actor, "retention", "some-item", {})  # what the decision caused
    report = audit(s)
    assert report["ok"], report["problems"]
    assert report["attested"]["passkey_signed"] == 2
    s.archive.ledger.append(actor, "access-approved", subject, {})  # the same decision again
    assert codes(audit(s)) == {"decision-replayed"}


def test_a_decision_written_long_after_it_was_signed_is_caught(team, monkeypatch):
    from datetime import datetime, timedelta

    import archive.ledger.chain as chain

    s = team
    device, _cid = enroll(s)
    begun = approval(s, request(s))
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(hours=2)

    monkeypatch.setattr(chain, "datetime", Later)
    s.archive.ledger.append(actor, "access-approved", begun["decision"]["subject"], {})
    monkeypatch.undo()
    assert codes(audit(s)) == {"decision-stale"}


def test_a_decision_written_for_another_subject_is_caught(team):
    s = team
    device, _cid = enroll(s)
    begun = approval(s, request(s))
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    s.archive.ledger.append(actor, "access-approved", "another-request", {})
    assert "decision-mismatch" in codes(audit(s))


def test_an_entry_recording_otherwise_than_the_person_signed_is_caught(team):
    s = team
    device, _cid = enroll(s)
    req = request(s)
    begun = approval(s, req)  # the person signs the note 同意
    actor = passkeys.finish_decision(s.archive, RP, begun["state"],
                                     device.get(begun["options"], RP.origin))
    access.decide(s.archive, actor, req["id"], True, "不同意", CTX)  # the console writes another
    report = audit(s)
    assert codes(report) == {"decision-mismatch"}
    assert "note" in report["problems"][0]["message"]


def test_credentials_survive_a_rebuilt_catalog(team, tmp_path):
    from archive.copies.rebuild import rebuild

    s = team
    _done, _seq = approved(s)
    s.archive.finish_command()
    target = SQLiteCatalog(tmp_path / "rebuilt.sqlite")
    try:
        report = rebuild(s.archive, target)
        assert report.ledger_ok, report.problems
        creds = target.list_records("meta", kind="passkey")
        assert [c["person"] for c in creds] == ["B2"]
        assert creds[0]["status"] == "confirmed"
    finally:
        target.close()


def test_credentials_no_journal_carried_come_back_from_the_ledger(team, tmp_path):
    from archive.copies.rebuild import rebuild

    s = team
    saved, s.catalog.journal = s.catalog.journal, None  # a command that died before its end
    try:
        device, cid = enroll(s)
        sign_in(s, device)
    finally:
        s.catalog.journal = saved
    s.archive.finish_command()  # the next command's segment carries the ledger entries only
    target = SQLiteCatalog(tmp_path / "rebuilt.sqlite")
    try:
        report = rebuild(s.archive, target)
        assert report.ledger_ok, report.problems
        creds = {c["credential_id"]: c for c in target.list_records("meta", kind="passkey")}
        assert creds[cid]["status"] == "confirmed" and creds[cid]["confirmed_by"] == "P000"
        assert creds[cid]["public_key"] == s.catalog.list_records(
            "meta", kind="passkey")[0]["public_key"]
        assert target.list_records("meta", kind="console-key")
    finally:
        target.close()


def test_credentials_migrate_with_the_archive(team, tmp_path):
    from archive.copies.migrate import migrate
    from archive.service import Archive
    from archive.worm.local import LocalWormStore

    s = team
    device, cid = enroll(s)
    session = passkeys.console_actor(s.archive, "B2", sign_in(s, device).assertion)
    s.archive.ledger.append(session, "console-search", "-", {})
    s.archive.finish_command()
    target = Archive(SQLiteCatalog(tmp_path / "target.sqlite"),
                     LocalWormStore(tmp_path / "worm2", immutable=False), s.archive.key,
                     s.archive.archive_keys)
    try:
        report = migrate(s.archive, target, s.actor)
        assert report.failed == []
        verdict = target.verify_ledger().to_dict()
        assert verdict["ok"], verdict["problems"]
        assert verdict["attested"] == {"passkey_signed": 1, "console_attested": 2}
        assert [c["credential_id"] for c in target.catalog.list_records(
            "meta", kind="passkey")] == [cid]
        assert list(evidence.published_credentials(target.store)) == [cid]
        # the migrated archive signs B2 in as the old one did
        passkeys.attach(target, tmp_path / "home")
        assert sign_in(SimpleNamespace(archive=target), device).person_id == "B2"
    finally:
        target.catalog.close()


def test_working_state_is_outside_the_archive(team, tmp_path):
    s = team
    enroll(s)
    tables = {r[0] for r in sqlite3.connect(tmp_path / "home" / "working.db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"invites", "challenges"} <= tables
    s.archive.finish_command()
    for key, vid, _size in s.store.list_keys("journal/"):
        assert b"token_hash" not in s.store.read_bytes(key, vid)
    assert isinstance(s.archive.working, WorkingState)


# --- the command line ------------------------------------------------------------------------
def test_cli_people_without_account_invite_confirm_revoke(tmp_path, monkeypatch):
    import bootstrap
    from config import settings as settings_mod
    from tests.support.cli import held_keys_home, run, run_json

    held_keys_home(tmp_path, monkeypatch)
    try:
        added = run_json("people", "add", "B2", "--name", "局长", "--role", "approver",
                         "--position", "局领导")
        assert added["os_account"] is None and added["public_keys"] == []
        assert "key_file" not in added
        out = run("people", "invite", "B2", "--hours", "2").output
        assert "/invite/" in out and "confirm-passkey" in out
        invited = run_json("people", "invite", "B2")
        assert invited["link"].endswith("/invite/" + invited["token"])

        settings = settings_mod.load()
        archive = passkeys.attach(bootstrap.open_archive(settings), settings.home)
        rp = RelyingParty("localhost", "http://localhost:8443")
        device = Authenticator()
        begun = passkeys.begin_enrollment(archive, rp, invited["token"])
        cid = passkeys.finish_enrollment(archive, rp, invited["token"],
                                         device.create(begun["options"], rp.origin))[
            "credential_id"]
        archive.finish_command()
        archive.catalog.close()

        listed = run_json("people", "passkeys", "B2")["passkeys"]
        assert [(c["credential_id"], c["status"]) for c in listed] == [(cid, "pending")]
        assert cid in run("people", "passkeys").output
        run("people", "revoke-passkey", "B2", cid[:12])  # a pending one may be revoked too
        assert run_json("people", "passkeys")["passkeys"][0]["status"] == "revoked"
        refused = run("people", "confirm-passkey", "B2", cid, code=2)
        assert "not pending" in refused.output
        run("people", "confirm-passkey", "B2", "no-such-passkey", code=2)
        # base64url ids may begin with "-": taken as the id, not as an option
        for command in ("confirm-passkey", "revoke-passkey"):
            for dashed_id in ("-" + cid[1:], "-hQx9", "--json-like"):
                dashed = run("people", command, "B2", dashed_id, "--json", code=2).output
                assert "No such option" not in dashed and dashed_id in dashed
                assert json.loads(dashed)["error"]
        verdict = run_json("audit", "verify")
        assert verdict["ok"], verdict["problems"]
    finally:
        release_all_for_tests(tmp_path)


def test_cli_confirm_then_audit_counts_the_passkey(tmp_path, monkeypatch):
    import bootstrap
    from config import settings as settings_mod
    from tests.support.cli import held_keys_home, run, run_json

    held_keys_home(tmp_path, monkeypatch)
    try:
        run("people", "add", "B2", "--name", "局长", "--role", "approver")
        token = run_json("people", "invite", "B2")["token"]
        settings = settings_mod.load()
        rp = RelyingParty("localhost", "http://localhost:8443")
        archive = passkeys.attach(bootstrap.open_archive(settings), settings.home)
        device = Authenticator()
        begun = passkeys.begin_enrollment(archive, rp, token)
        cid = passkeys.finish_enrollment(archive, rp, token,
                                         device.create(begun["options"], rp.origin))[
            "credential_id"]
        archive.finish_command()
        archive.catalog.close()
        confirmed = run_json("people", "confirm-passkey", "B2", cid)
        assert confirmed["status"] == "confirmed" and confirmed["confirmed_by"] == "admin"

        archive = passkeys.attach(bootstrap.open_archive(settings), settings.home)
        begun = passkeys.begin_sign_in(archive, rp)
        passkeys.finish_sign_in(archive, rp, begun["state"],
                                device.get(begun["options"], rp.origin))
        archive.finish_command()
        archive.catalog.close()
        verdict = run_json("audit", "verify")
        assert verdict["ok"], verdict["problems"]
        assert verdict["attested"]["passkey_signed"] == 1
        text = run("audit", "verify").output
        assert "1 entries signed by a person's passkey" in text
    finally:
        release_all_for_tests(tmp_path)


def test_cli_passkeys_read_in_chinese(tmp_path, monkeypatch, chinese):  # noqa: F811
    import bootstrap
    from config import settings as settings_mod
    from tests.support.cli import held_keys_home, run, run_json

    held_keys_home(tmp_path, monkeypatch)
    try:
        added = run("people", "add", "B2", "--name", "局长", "--role", "approver").output
        assert "无（仅使用网页控制台）" in added and "请邀请其登记通行密钥" in added
        token = run_json("people", "invite", "B2")["token"]
        settings = settings_mod.load()
        rp = RelyingParty("localhost", "http://localhost:8443")
        archive = passkeys.attach(bootstrap.open_archive(settings), settings.home)
        device = Authenticator()
        begun = passkeys.begin_enrollment(archive, rp, token)
        cid = passkeys.finish_enrollment(archive, rp, token,
                                         device.create(begun["options"], rp.origin))[
            "credential_id"]
        archive.finish_command()
        archive.catalog.close()
        listed = run("people", "passkeys", "B2").output
        assert "待确认" in listed and "认证器型号" in listed
        confirmed = run("people", "confirm-passkey", "B2", cid).output
        assert "已确认" in confirmed
        # the credential id is random base64url: a run of its letters is not English
        assert cid in confirmed
        assert english_phrases(confirmed.replace(cid, "")) == []
        refused = run("people", "confirm-passkey", "B2", cid, code=2).output
        assert "状态为已确认，不是待确认" in refused
        invite = run("people", "invite", "B2").output
        assert "邀请链接" in invite and "custody people confirm-passkey B2" in invite
    finally:
        release_all_for_tests(tmp_path)
