"""Every command through click's CliRunner, on the embedded defaults."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support.cli import env, held_keys_home, run, run_json  # noqa: F401  (env: a fixture)


@pytest.fixture
def filled(env):
    run("init")
    s = settings.load()
    archive = bootstrap.open_archive(s)
    actor = people.acting_person(archive.catalog)
    t0 = datetime(2026, 3, 15, 1, 0, tzinfo=timezone.utc)
    ids = []
    for n, (party, cause) in enumerate([("王五", "无照经营"), ("某某食品有限公司", "销售过期食品"),
                                        ("王五金店", "占道经营")]):
        d = Description(kind="video", unit="market-001", device_id=f"D{n}", officers=["P1"],
                        recorded_start=t0 + timedelta(hours=n),
                        recorded_end=t0 + timedelta(hours=n, minutes=20), party=party,
                        cause=cause)
        res = archive.archive_stream([os.urandom(5000)], d, actor,
                                     datetime.now(timezone.utc) + timedelta(days=10))
        ids.append(res.item.id)
    archive.finish_command()
    archive.catalog.close()
    return ids


def test_init_creates_key_and_keeps_it(env):
    out = run_json("init")
    assert out["created"] is True and out["archive_key"].startswith("ed25519:")
    assert len(out["fingerprint"].split()) == 8
    key = env / "data" / "keys" / "archive.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    again = run_json("init")
    assert again["created"] is False and again["archive_key"] == out["archive_key"]
    assert "Fingerprint:" in run("init").stdout


def test_search_show_and_counts(filled):
    out = run_json("search", "--party", "王五")
    assert [r["id"] for r in out["items"]] == [filled[0], filled[2]]
    out = run_json("search", "--officer", "P1", "--from", "2026-03-15 10:00",
                   "--to", "2026-03-15 10:30")  # Shanghai time: 02:00-02:30 UTC
    assert [r["id"] for r in out["items"]] == [filled[1]]
    page = run_json("search", "--limit", "2")
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = run_json("search", "--limit", "2", "--cursor", page["next_cursor"])
    assert [r["id"] for r in rest["items"]] == [filled[2]] and rest["next_cursor"] is None
    counts = run_json("search", "--count-by", "device_id")
    assert counts["counts"] == {"D0": 1, "D1": 1, "D2": 1}
    shown = run_json("show", filled[1], "--lock")
    assert shown["description"]["party"] == "某某食品有限公司"
    assert shown["signature_valid"] is True and len(shown["versions"]) == 1
    assert shown["lock_in_store"]["mode"] == "LOCAL-WORM"
    human = run("show", filled[1]).stdout
    assert "销售过期食品" in human and "signature valid" in human
    table = run("search", "--cause", "经营").stdout
    assert "无照经营" in table and "占道经营" in table and "2 items" in table


def test_unknown_item_and_bad_usage(filled):
    assert "no item" in run("show", "no-such-item", code=2).stderr
    assert run_json("show", "no-such-item", code=2)["error"] == "not-found"
    assert "2 characters" in run("search", "--party", "王", code=2).stderr
    assert "not an ISO 8601" in run("search", "--from", "yesterday", code=2).stderr
    assert "cannot group by" in run("search", "--count-by", "colour", code=2).stderr


def test_audit_verify_and_tampering(filled, env):
    out = run_json("audit", "verify")
    assert out["ok"] is True and out["entries"] >= 5 and out["checkpoints"] >= 2
    cp = run_json("audit", "checkpoint")
    assert cp["checkpoint"]["seq"] == out["head_seq"]
    db = sqlite3.connect(env / "data" / "catalog.sqlite")
    with db:
        db.execute("UPDATE ledger SET subject='someone-else' WHERE seq=3")
    db.close()
    out = run_json("audit", "verify", code=1)
    assert [(p["code"], p["seq"]) for p in out["problems"]] == [("edited", 3)]
    assert "edited" in run("audit", "verify", code=1).stdout


def test_audit_verify_names_an_edited_search_field(filled, env):
    """A party_term pointed at another name hides the item from --party and files it under
    that name; audit verify names the item, the field, the stored and the signed value."""
    assert run_json("audit", "verify")["items_checked"] == 3
    with sqlite3.connect(env / "data" / "catalog.sqlite") as db:
        db.execute("UPDATE items SET party_term=(SELECT party_term FROM items WHERE id=?) "
                   "WHERE id=?", (filled[1], filled[0]))
        db.execute("UPDATE items SET start_us=start_us+1 WHERE id=?", (filled[2],))
    db.close()
    assert [r["id"] for r in run_json("search", "--party", "王五")["items"]] == [filled[2]]
    out = run_json("audit", "verify", code=1)
    assert out["ledger_ok"] is True and out["problems"] == []
    found = {(p["item"], p["field"]): p for p in out["index_problems"]}
    party = found[(filled[0], "party")]
    assert party["code"] == "search-field-mismatch"
    assert (party["stored"], party["signed"]) == ("某某食品有限公司", "王五")
    assert found[(filled[2], "start")]["signed"] == "2026-03-15T03:00:00Z"
    text = run("audit", "verify", code=1).stdout
    assert "The audit ledger is intact" in text
    assert (f"{filled[0]}）, party: catalog '某某食品有限公司', signed metadata '王五'"
            in text)


def test_show_lock_names_a_missing_object(filled, env):
    """The object gone from the store: everything is still shown, the missing object is the
    problem, exit 1 (not 2, 'no such item')."""
    from tests.support.worm import release_all_for_tests

    shown = run_json("show", filled[0])
    key = shown["storage"]["object"]["key"]
    version = shown["storage"]["object"]["version_id"]
    path = env / "data" / "worm" / "keys" / key / version
    assert path.exists()
    release_all_for_tests(path.parent)
    path.unlink()
    out = run_json("show", filled[0], "--lock", code=1)
    assert out["description"]["party"] == "王五" and out["lock_in_store"] is None
    assert [p["code"] for p in out["problems"]] == ["object-missing"]
    text = run("show", filled[0], "--lock", code=1).stdout
    assert "王五" in text and "object-missing" in text and key in text
    assert run_json("show", filled[0])["problems"] == []  # without --lock the store is not read


def test_commands_append_checkpoints(filled):
    before = run_json("audit", "verify")["checkpoints"]
    run("init")  # appends nothing: no new checkpoint
    assert run_json("audit", "verify")["checkpoints"] == before


def test_bad_config_names_file_and_key(env):
    cfg = env / "custody.toml"
    cfg.write_text('[store]\nbackend = "local"\nimutable = true\n')
    r = run("--config", str(cfg), "init", code=2)
    assert str(cfg) in r.stderr and "store.imutable" in r.stderr and "unknown key" in r.stderr
    cfg.write_text("[cycle]\narchiving_by = '02-01'\n")
    r = run("--config", str(cfg), "init", code=2)
    assert "cycle.archiving_by" in r.stderr and "after the handover" in r.stderr
    cfg.write_text("[units.x\nname=1")
    assert "not valid TOML" in run("--config", str(cfg), "init", code=2).stderr
    cfg.write_bytes(b"[archive]\nfonds = '\xff'\n")
    assert "not UTF-8" in run("--config", str(cfg), "init", code=2).stderr
    cfg.write_text("[units.u9]\nname='x'\nroutine_months=3\nevidence='case'\noffload='24h'\n"
                   "approver_role='法制股'\n")
    assert "at least 6 months" in run("--config", str(cfg), "init", code=2).stderr
    cfg.write_text("[units.u9]\nname='x'\nroutine_months=6\nevidence='case'\nevidence_years=5\n"
                   "offload='24h'\napprover_role='法制股'\n")
    assert "contradicts" in run("--config", str(cfg), "init", code=2).stderr
    assert "file not found" in run("--config", str(env / "nope.toml"), "init", code=2).stderr


def test_time_without_zone_refused_when_no_zone(filled, env):
    cfg = env / "nozone.toml"
    cfg.write_text('[archive]\nzone = ""\n')
    r = run("--config", str(cfg), "search", "--from", "2026-03-15 09:00", code=2)
    assert "no UTC offset" in r.stderr
    ok = run_json("--config", str(cfg), "search", "--from", "2026-03-15T09:00+08:00")
    assert len(ok["items"]) == 3


def test_archive_key_with_loose_mode_refused(filled, env):
    key = env / "data" / "keys" / "archive.key"
    key.chmod(0o644)
    r = run("search", code=2)
    assert "0644" in r.stderr and str(key) in r.stderr


def test_unregistered_os_account_refused(filled, env):
    archive = bootstrap.open_archive(settings.load())
    doc = archive.catalog.get_record("people", "admin")
    archive.catalog.put_record("people", "admin", doc | {"os_account": "someone-else"})
    with pytest.raises(Exception, match="not a registered person"):
        people.acting_person(archive.catalog)
    archive.catalog.put_record("people", "admin", doc | {"enabled": False})
    with pytest.raises(Exception, match="disabled"):
        people.acting_person(archive.catalog)
    archive.catalog.close()


def test_unreachable_mongodb_exit_3(env):
    cfg = env / "mongo.toml"
    cfg.write_text('[catalog]\nbackend = "mongodb"\n'
                   'uri = "mongodb://user:secret@127.0.0.1:9/?serverSelectionTimeoutMS=300"\n')
    run("init")
    r = run("--config", str(cfg), "search", code=3)
    assert "127.0.0.1:9" in r.stderr and "secret" not in r.stderr


def test_unreachable_s3_exit_3(env):
    cfg = env / "s3.toml"
    cfg.write_text('[store]\nbackend = "s3"\nbucket = "evidence"\n'
                   'endpoint_url = "http://127.0.0.1:9"\n')
    r = run("--config", str(cfg), "init", code=3)
    assert "127.0.0.1:9" in r.stderr


def test_demo_runs_end_to_end(env):
    out = run_json("demo", "--dir", str(env / "demo"))
    assert out["ok"] is True
    assert out["counts"]["quarantined"] == 1 and out["counts"]["archived"] >= 10
    assert out["sequence_gaps"] == {"DSJ-0102": [2]} and out["ledger"]["ok"]
    text = run("demo", "--dir", str(env / "demo")).stdout
    assert "已隔离" in text and "intact" in text


def test_key_rotation_keeps_old_signatures_valid(filled, env):
    before = run_json("key", "list")["keys"]
    assert len(before) == 1 and before[0]["current"]
    out = run_json("key", "rotate")
    assert out["previous"] == before[0]["key_id"] and out["key_id"] != out["previous"]
    keys = run_json("key", "list")["keys"]
    assert {k["key_id"] for k in keys} == {out["key_id"], out["previous"]}
    assert run_json("show", filled[0])["signature_valid"] is True  # signed by the old key
    assert run_json("audit", "verify")["ok"] is True  # old checkpoints and the new one
    retired = env / "data" / "keys" / "retired"
    assert [p.name for p in retired.iterdir()] == [
        f"archive-{out['previous'].split(':')[1]}.key"]


def test_end_to_end_on_s3_object_lock(env):
    """init, archive, show with the lock read from S3, and the ledger's checkpoints in S3."""
    from tests.support.s3 import mock_aws

    cfg = env / "s3.toml"
    cfg.write_text('[store]\nbackend = "s3"\nbucket = "evidence"\n')
    with mock_aws():
        assert run_json("--config", str(cfg), "init")["created"] is True
        s = settings.load(str(cfg))
        archive = bootstrap.open_archive(s)
        actor = people.acting_person(archive.catalog)
        d = Description(kind="audio", unit="urban-001", device_id="REC-1", officers=["P9"],
                        recorded_start=datetime(2026, 5, 1, 8, tzinfo=timezone.utc),
                        recorded_end=datetime(2026, 5, 1, 9, tzinfo=timezone.utc),
                        party="张三", cause="违法搭建")
        item = archive.archive_stream([os.urandom(7 << 20), os.urandom(3 << 20)], d, actor,
                                      datetime.now(timezone.utc) + timedelta(days=200)).item
        archive.finish_command()
        shown = run_json("--config", str(cfg), "show", item.id, "--lock")
        assert shown["lock_in_store"]["mode"] == "COMPLIANCE"
        assert shown["storage"]["object"]["backend"] == "s3"
        verified = run_json("--config", str(cfg), "audit", "verify")
        assert verified["ok"] and verified["checkpoints"] >= 2
        assert archive.fixity(item.id)["digests_match"]
