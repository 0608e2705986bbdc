"""Several stations, one archive, on one machine (SQLite and the local store shared by two
data homes): a station's identity on its batches, provenance, ledger entries and key; a
second home joining as a station of its own; a station id claimed twice refused; each
station's key listed, rotated alone, and carried through rebuild and migration; no private
key anywhere in the store or the catalog. The two stations at once on the real servers are
tests/test_two_stations.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import ConfigError, InputError
from config import settings
from tests.support.cli import env  # noqa: F401  (fixture)
from tests.support.stations import (
    cli,
    cli_json,
    offload,
    pem_body,
    private_key_texts,
    station_env,
)


def _config(tmp: Path, name: str, clamd: str | None = None, shared: str = "shared") -> Path:
    """A config over one catalog and one store at ``tmp``/``shared``."""
    path = tmp / f"{name}.toml"
    text = (f'[catalog]\npath = "{tmp / shared / "catalog.sqlite"}"\n'
            f'[store]\npath = "{tmp / shared / "worm"}"\n')
    if clamd:
        text += f'[scanner]\nsocket = "{clamd}"\n'
    path.write_text(text)
    return path


def _ledger(tmp: Path, shared: str = "shared") -> list:
    with SQLiteCatalog(tmp / shared / "catalog.sqlite") as cat:
        return list(cat.ledger_entries())


def _pems(root: Path) -> list[str]:
    """The archive public keys a local store holds."""
    return sorted(p.name for p in (root / "worm").rglob("*.pem"))


def _store_bytes(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()]


def test_station_id_from_config_env_and_checked(tmp_path, monkeypatch):
    monkeypatch.delenv("CUSTODY_STATION", raising=False)
    path = tmp_path / "c.toml"
    path.write_text('[station]\nid = "WS-01"\n')
    assert settings.load(path).station == "WS-01"
    assert settings.load(None).station == ""
    monkeypatch.setenv("CUSTODY_STATION", "WS-02")  # the environment overrides the file
    assert settings.load(path).station == "WS-02"
    monkeypatch.setenv("CUSTODY_STATION", "two words")
    with pytest.raises(InputError, match="station id"):
        _ = settings.load(path).station
    path.write_text('[station]\nid = "a\\tb"\n')
    with pytest.raises(ConfigError, match="station.id"):
        settings.load(path)


def test_a_second_home_joins_as_a_station_of_its_own(env, clamd_scanner):  # noqa: F811
    cfg = _config(env, "custody", clamd_scanner.socket_path)
    a, b = station_env(env, "WS-A"), station_env(env, "WS-B")
    first = cli_json(cfg, a, "init")
    assert first["station"] == "WS-A" and not first["joined"] and first["created"]
    joined = cli_json(cfg, b, "init")
    assert joined["joined"] and joined["station"] == "WS-B"
    assert joined["administrator"] == "admin"  # a person the archive knows, not a new one
    assert joined["archive_key"] != first["archive_key"]
    entries = _ledger(env)
    reg = [e for e in entries if e.action == "station-key-registered"]
    assert len(reg) == 1 and reg[0].subject == joined["archive_key"]
    assert reg[0].details["station"] == "WS-B"
    assert reg[0].details["fingerprint"] == joined["fingerprint"]
    assert [e.actor for e in entries if e.action == "person-registered"] == ["admin"]
    again = cli_json(cfg, b, "init")  # safe to run again: nothing new
    assert not again["joined"] and not again["created"]
    assert not [e for e in _ledger(env)[len(entries):]
                if e.action in ("station-key-registered", "archive-key-created")]

    # a third home claiming WS-A is refused before anything is made or published
    c = station_env(env, "WS-A") | {"CUSTODY_HOME": str(env / "other")}
    pems = _pems(env / "shared")
    before = len(_ledger(env))
    out = cli(cfg, c, "init", code=2)
    assert "station WS-A is already registered" in out.output and "[station] id" in out.output
    assert not (env / "other" / "keys" / "archive.key").exists()
    assert _pems(env / "shared") == pems
    assert len(_ledger(env)) == before
    # a home whose key is WS-B's cannot call itself another station
    out = cli(cfg, b | {"CUSTODY_STATION": "WS-X"}, "init", code=2)
    assert "registered as station WS-B" in out.output

    # each station ingests: its id on the batch, every file's provenance and its entries
    items = {}
    for name, e, device in (("WS-A", a, "DSJ-0501"), ("WS-B", b, "DSJ-0502")):
        root, manifest = offload(env / f"offload-{name}", device, 1)
        report = cli_json(cfg, e, "ingest", str(root), "--manifest", str(manifest), code=None)
        assert report["station"] == name
        assert {f["state"] for f in report["files"]} == {"archived"}
        items[name] = [f["item_id"] for f in report["files"]]
        for item_id in items[name]:
            shown = cli_json(cfg, e, "show", item_id)
            assert shown["description"]["source"]["station"] == name
    keys = {"WS-A": first["archive_key"], "WS-B": joined["archive_key"]}
    for e in (a, b):  # every station's signatures verify from either home
        for name, ids in items.items():
            for item_id in ids:
                shown = cli_json(cfg, e, "show", item_id)
                assert shown["signature_valid"] and shown["versions"][-1]["key_id"] == keys[name]
        assert cli_json(cfg, e, "audit", "verify")["ok"]
    by_station = {}
    for entry in _ledger(env):
        if entry.action in ("ingestion", "batch"):
            by_station.setdefault(entry.details["station"], set()).add(entry.action)
    assert by_station == {"WS-A": {"ingestion", "batch"}, "WS-B": {"ingestion", "batch"}}

    listed = cli_json(cfg, a, "key", "list")["keys"]
    assert [(k["station"], k["state"], k["current"]) for k in listed] == [
        ("WS-A", "active", True), ("WS-B", "active", False)]
    assert all(k["published"] and k["registered"] for k in listed)
    text = cli(cfg, b, "key", "list").stdout
    assert "WS-A" in text and "WS-B" in text and "active" in text

    # rotation at WS-B retires WS-B's key only; every old signature still verifies
    rotated = cli_json(cfg, b, "key", "rotate")
    assert rotated["previous"] == keys["WS-B"] and rotated["station"] == "WS-B"
    listed = {k["key_id"]: k for k in cli_json(cfg, a, "key", "list")["keys"]}
    assert {(k["station"], k["state"]) for k in listed.values()} == {
        ("WS-A", "active"), ("WS-B", "active"), ("WS-B", "retired")}
    assert listed[keys["WS-A"]]["state"] == "active"
    assert listed[keys["WS-B"]]["replaced_by"] == rotated["key_id"]
    for e in (a, b):
        assert cli_json(cfg, e, "show", items["WS-B"][0])["signature_valid"]
        assert cli_json(cfg, e, "audit", "verify")["ok"]

    # nothing in the store or the catalog holds a private key
    secrets = private_key_texts(env / "WS-A", env / "WS-B", env / "user")
    assert len(secrets) >= 4  # two stations, a retired key, the administrator's key
    held = _store_bytes(env / "shared")
    assert not [b for b in held if b"PRIVATE KEY" in b]
    for secret in secrets:
        assert not [b for b in held if pem_body(secret) in b]

    # the catalog rebuilt from the store alone carries every station's key and its state
    into = env / "rebuilt.sqlite"
    cli(cfg, a, "rebuild-catalog", "--into", str(into))
    with SQLiteCatalog(into) as fresh, SQLiteCatalog(env / "shared" / "catalog.sqlite") as live:
        assert (fresh.list_records("meta", kind="archive-key")
                == live.list_records("meta", kind="archive-key"))
    rebuilt = env / "rebuilt.toml"
    rebuilt.write_text(f'[catalog]\npath = "{into}"\n[store]\npath = "{env / "shared" / "worm"}"\n')
    assert {(k["station"], k["state"]) for k in cli_json(rebuilt, b, "key", "list")["keys"]} \
        == {("WS-A", "active"), ("WS-B", "active"), ("WS-B", "retired")}

    # migrated: the key objects and registrations are carried, every signature verifies there
    target = _config(env, "target", clamd_scanner.socket_path, shared="moved")
    cli(cfg, a, "migrate", "--to", str(target))
    assert _pems(env / "moved") == _pems(env / "shared") and len(_pems(env / "moved")) == 3
    for e in (a, b):
        listed = cli_json(target, e, "key", "list")["keys"]
        assert {(k["station"], k["state"]) for k in listed} == {
            ("WS-A", "active"), ("WS-B", "active"), ("WS-B", "retired")}
        for ids in items.values():
            assert cli_json(target, e, "show", ids[0])["signature_valid"]
        assert cli_json(target, e, "audit", "verify")["ok"]
    held = _store_bytes(env / "moved")
    assert not [b for b in held if b"PRIVATE KEY" in b]


def test_only_a_known_administrator_registers_a_station(env, monkeypatch):  # noqa: F811
    cfg = _config(env, "custody")
    cli(cfg, station_env(env, "WS-A"), "init")
    before = len(_ledger(env))
    pems = _pems(env / "shared")
    # the same OS account, but its person's key is not at this machine (another HOME)
    stranger = station_env(env, "WS-B") | {"HOME": str(env / "elsewhere")}
    out = cli(cfg, stranger, "init", code=2)
    assert "no private key" in out.output and "custody people add" in out.output
    assert "already has people" in out.output
    # a person the archive knows, but not an administrator
    held = {"CUSTODY_TESTING": "1", "CUSTODY_TEST_PEOPLE_DIR": str(env / "people")}
    (env / "people").mkdir()
    user_key = env / "user" / ".config" / "custody" / "person-admin.key"
    (env / "people" / "person-admin.key").write_bytes(user_key.read_bytes())
    (env / "people" / "person-admin.key").chmod(0o600)
    cli(cfg, station_env(env, "WS-A") | held | {"CUSTODY_ACT_AS": "admin"}, "people", "add",
        "O1", "--name", "执法员", "--account", "o1", "--role", "officer")
    after_add = len(_ledger(env))
    officer = station_env(env, "WS-B") | held | {"CUSTODY_ACT_AS": "O1"}
    out = cli(cfg, officer, "init", code=2)
    assert "O1 may not register station WS-B" in out.output
    assert not (env / "WS-B" / "keys" / "archive.key").exists()
    assert _pems(env / "shared") == pems
    assert len(_ledger(env)) == after_add and after_add == before + 1
    assert cli_json(cfg, station_env(env, "WS-A"), "audit", "verify")["ok"]
