"""The core's refusals and findings as people read them (issue 14): Chinese by default, with
the reason inside a refusal translated with it, while ``--json``, the ledger and the access
register keep the stable English text."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
import i18n
from archive import people
from archive.access.register import register_rows, row_cells
from archive.domain.errors import IdentityError, InputError
from archive.domain.model import Description
from archive.domain.names import joined, role_choice
from archive.packaging.bags import BagWriter, check_bag
from config import settings
from tests.support.cli import held_keys_home, run
from tests.support.language import chinese, english_phrases  # noqa: F401


def zh(message_id: str) -> str:
    """The catalog's Chinese for an id; an id without one fails the test that uses it."""
    text = i18n.translations("zh_CN").gettext(message_id)
    assert text != message_id, f"no Chinese for {message_id!r}"
    return text


@pytest.fixture
def office(tmp_path, monkeypatch):
    """admin (this OS account), officer O1 and one recording of theirs."""
    held_keys_home(tmp_path, monkeypatch)
    run("people", "add", "O1", "--name", "执法员甲", "--account", "o1", "--role", "officer")
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    t0 = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)
    d = Description(kind="video", unit="market-001", device_id="D1", officers=["O1"],
                    recorded_start=t0, recorded_end=t0 + timedelta(minutes=2),
                    source={"original_name": "DSJ/a.mp4"})
    until = datetime.now(timezone.utc) + timedelta(days=30)
    monkeypatch.item = archive.archive_stream([os.urandom(20_000)], d, actor, until).item.id
    archive.finish_command()
    archive.catalog.close()
    yield monkeypatch
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _json_error(*args: str, code: int) -> dict:
    return json.loads(run(*args, "--json", code=code).stdout)


def test_a_role_refusal_names_the_action_and_the_role_in_chinese(office, chinese):
    office.setenv("CUSTODY_ACT_AS", "O1")
    err = run("people", "add", "X1", "--name", "某人", "--account", "x1", "--role", "officer",
              code=2).stderr
    want = zh("{person} may not {action}: it takes the role {roles}").format(
        person="O1", action=zh("add people"), roles=zh("administrator"))
    assert want in err
    assert english_phrases(err) == []
    out = _json_error("people", "add", "X1", "--name", "某人", "--account", "x1", "--role",
                      "officer", code=2)
    assert out["error"] == "identity-refused"
    assert out["message"] == "O1 may not add people: it takes the role administrator"
    assert out["text"] == want
    # the refusal is recorded in English, whatever language the person read it in
    archive = bootstrap.open_archive(settings.load())
    try:
        refused = [e for e in archive.catalog.ledger_entries() if e.action == "refused"]
        assert refused and refused[-1].details["reason"] == out["message"]
    finally:
        archive.catalog.close()


def test_an_access_refusal_carries_its_reason_in_chinese(office, chinese):
    office.setenv("CUSTODY_ACT_AS", "O1")
    req = json.loads(run("access", "request", "--items", office.item, "--reason", "复查",
                         "--purpose", "view", "--json").stdout)
    out = _json_error("access", "approve", req["id"], code=2)
    assert out["error"] == "access-refused"
    reason = zh("{person} may not decide their own request {request}").format(
        person="O1", request=req["id"])
    assert out["text"] == zh("refused: {reason}").format(reason=reason)
    assert out["message"] == f"refused: O1 may not decide their own request {req['id']}"
    err = run("access", "approve", req["id"], code=2).stderr
    assert reason in err and english_phrases(err) == []
    archive = bootstrap.open_archive(settings.load())
    try:  # the register keeps the English reason, as the ledger does
        reasons = [r["reason"] for r in archive.catalog.list_records("access_register")
                   if r["kind"] == "refusal"]
        assert reasons == [f"O1 may not decide their own request {req['id']}"] * 2
        # the 调阅登记 shows each refusal as the person read it
        rows = [r for r in register_rows(archive.catalog, None, None) if r["kind"] == "refusal"]
        assert [r["reason_text"] for r in rows] == [reason] * 2
        assert reason in row_cells(rows[0], None)
    finally:
        archive.catalog.close()


def test_an_input_refusal_from_the_core_in_both_languages(office, chinese):
    out = _json_error("people", "disable", "nobody-here", code=2)
    assert out["error"] == "not-found" and out["message"] == "no person 'nobody-here'"
    assert out["text"] == zh("no person {person!r}").format(person="nobody-here")
    office.setenv("CUSTODY_LANG", "en")
    err = run("people", "disable", "nobody-here", code=2).stderr
    assert "custody: no person 'nobody-here'" in err


def test_an_unknown_account_is_refused_in_chinese(office, chinese):
    office.setenv("CUSTODY_ACT_AS", "ghost")
    out = _json_error("people", "disable", "O1", code=2)
    assert out["error"] == "identity-refused"
    assert out["message"].startswith("OS account 'ghost' is not a registered person")
    assert out["text"] == zh("OS account {account!r} is not a registered person; an "
                             "administrator must add it first").format(account="ghost")


def test_role_names_and_joined_reasons_follow_the_language(chinese):
    either = role_choice(("auditor", "archivist"))
    assert str(either) == "auditor or archivist"
    assert i18n.localize(either) == zh("{first} or {rest}").format(
        first=zh("auditor"), rest=zh("archivist"))
    assert str(role_choice(("法制股",))) == "法制股"  # a configured name as written
    both = joined([i18n.Text("no item {item!r}", item="X"), "as given {not a field}"])
    assert str(both) == "no item 'X'; as given {not a field}"
    assert i18n.localize(both).endswith("；as given {not a field}")


def test_require_role_takes_a_marked_action_or_a_text(tmp_path, chinese):
    from archive.catalog.sqlite import SQLiteCatalog
    from archive.domain.model import Person
    from archive.ledger.chain import Actor

    catalog = SQLiteCatalog(tmp_path / "c.db")
    catalog.put_record("people", "A1", Person(id="A1", name="甲", os_account="a1",
                                              roles=["auditor"]).to_dict())
    actor = Actor("A1", None)
    assert people.require_role(catalog, actor, ("auditor",), "anything").id == "A1"
    with pytest.raises(IdentityError) as caught:
        people.require_role(catalog, actor, ("archivist", "administrator"), "rekey people")
    assert caught.value.message == ("A1 may not rekey people: it takes the role archivist or "
                                    "administrator")
    assert i18n.localize(caught.value) == zh(
        "{person} may not {action}: it takes the role {roles}").format(
        person="A1", action=zh("rekey people"), roles=zh("{first} or {rest}").format(
            first=zh("archivist"), rest=zh("administrator")))
    catalog.close()


def test_bag_problems_keep_english_and_show_chinese(tmp_path, chinese):
    root = tmp_path / "bag"
    writer = BagWriter(root)
    writer.add_bytes("a.txt", b"hello")
    writer.finish()
    (root / "data" / "a.txt").write_bytes(b"HELLO")
    (root / "data" / "extra.txt").write_bytes(b"slipped in")
    report = check_bag(root)
    problems = {p["code"]: p for p in report.to_dict()["problems"]}
    altered, added = problems["altered"], problems["unlisted"]
    assert altered["message"] == "data/a.txt does not match its SHA256 / SM3 digest (altered)"
    assert altered["text"] == zh("{path} does not match its {algorithms} digest "
                                 "(altered)").format(path="data/a.txt",
                                                     algorithms="SHA256 / SM3")
    assert added["text"] == zh("{path} is in the bag but not in {where} (added?)").format(
        path="data/extra.txt", where=zh("the payload manifests"))
    assert [p.message for p in report.problems] == [str(p.text) for p in report.problems]
    with pytest.raises(InputError) as caught:
        BagWriter(root)
    assert caught.value.message == f"{root} exists and is not an empty folder"
    assert i18n.localize(caught.value) == zh("{path} exists and is not an empty "
                                             "folder").format(path=root)
