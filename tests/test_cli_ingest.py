"""The ingest commands through click's CliRunner, against the session's real clamd."""

from __future__ import annotations

import json

import pytest

from tests.support.clamd import EICAR
from tests.support.cli import env, run, run_json  # noqa: F401  (fixture and helpers)
from tests.support.corpus import make_mp4, make_pdf


@pytest.fixture
def cfg(env, clamd_scanner):  # noqa: F811
    path = env / "custody.toml"
    path.write_text(f'[scanner]\nsocket = "{clamd_scanner.socket_path}"\n')
    run("--config", str(path), "init")
    return path


def test_ingest_pending_quarantine_and_devices(cfg, env):  # noqa: F811
    c = ["--config", str(cfg)]
    run(*c, "devices", "add", "DSJ-0500", "--model", "X9", "--clock", "local",
        "--officer", "P5000", "--unit", "market-001")
    root = env / "offload"
    root.mkdir()
    make_mp4(root / "DSJ-0500_20260315_090000_0001.MP4", 1,
             creation_time="2026-03-15T09:00:00Z")
    make_mp4(root / "DSJ-0500_20260315_091000_0003.MP4", 1,
             creation_time="2026-03-15T09:10:00Z")
    make_pdf(root / "scan.pdf")
    (root / "bad.com").write_bytes(EICAR)
    manifest = env / "m.csv"
    manifest.write_text("file,kind,unit,officer_id,party,cause\n"
                        "scan.pdf,document,market-001,P5000,王五,无照经营\n", encoding="utf-8")
    out = run_json(*c, "ingest", str(root), "--manifest", str(manifest), "--station", "S1",
                   code=1)
    states = {f["file"]: f["state"] for f in out["files"]}
    assert states["bad.com"] == "quarantined" and states["scan.pdf"] == "archived"
    assert out["sequence_gaps"] == {"DSJ-0500": [2]}
    table = run(*c, "ingest", str(root), "--manifest", str(manifest)).stdout
    assert "already item" in table and "已入库" in table  # a re-run: duplicates, nothing new
    devices = run_json(*c, "devices", "list")["devices"]
    assert devices[0]["gaps"] == [2] and devices[0]["files_seen"] == 2
    run(*c, "devices", "fault", "DSJ-0500", "--note", "镜头损坏")
    assert run_json(*c, "devices", "list")["devices"][0]["status"] == "faulty"
    run(*c, "devices", "repair", "DSJ-0500")
    q = run_json(*c, "quarantine", "list")["files"]
    assert len(q) == 1 and q[0]["file"] == "bad.com"
    assert run_json(*c, "quarantine", "show", q[0]["id"])["state"] == "quarantined"
    assert run(*c, "quarantine", "show", "nope", code=2)
    assert run_json(*c, "pending")["items"] == []
    assert run_json(*c, "reconcile")["orphans"] == []
    assert run_json(*c, "audit", "verify")["ok"]


def test_pending_listed_and_completed(cfg, env):  # noqa: F811
    c = ["--config", str(cfg)]
    root = env / "offload"
    root.mkdir()
    make_mp4(root / "clip.mp4", 1)
    run_json(*c, "ingest", str(root), code=1)
    pending = run_json(*c, "pending")["items"]
    assert len(pending) == 1 and "officers" in pending[0]["missing"]
    assert "pending metadata" in run(*c, "pending", "list").stdout
    fix = env / "fix.json"
    fix.write_text(json.dumps([{"file": "clip.mp4", "unit": "market-001",
                                "device_id": "D1", "officer_id": "P1",
                                "recorded_start": "2026-03-15 09:00",
                                "recorded_end": "2026-03-15 09:01"}]), encoding="utf-8")
    done = run_json(*c, "pending", "complete", "--manifest", str(fix))
    assert done["completed"][0]["status"] == "archived"
    assert run_json(*c, "pending")["items"] == []
    shown = run_json(*c, "show", pending[0]["id"])
    assert shown["version"] == 2 and len(shown["versions"]) == 2


def test_bad_manifest_and_missing_scanner(cfg, env):  # noqa: F811
    c = ["--config", str(cfg)]
    root = env / "offload"
    root.mkdir()
    empty = env / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in run(*c, "ingest", str(root), "--manifest", str(empty), code=2).stderr
    dead = env / "dead.toml"
    dead.write_text(f'[scanner]\nsocket = "{env / "nothing.sock"}"\n')
    r = run("--config", str(dead), "ingest", str(root), code=3)
    assert "clamd" in r.stderr
    # the existing clamd a config names: its status, or that it does not answer
    status = run_json(*c, "scanner", "status")
    assert status["running"] and status["engine"].startswith("ClamAV")
    assert status["where"] == str(cfg.read_text().split('"')[1])
    down = run_json("--config", str(dead), "scanner", "status", code=3)
    assert down["running"] is False and down["where"] == str(env / "nothing.sock")


def test_private_scanner_start_status_stop(env):  # noqa: F811
    cfg = env / "test-sigs.toml"
    cfg.write_text("[scanner]\nallow_test_signatures = true\n")
    c = ["--config", str(cfg)]
    try:
        started = run_json(*c, "scanner", "start")
        assert started["running"] and started["test_signatures"]
        assert run_json(*c, "scanner", "status")["responding"] is True
    finally:
        run(*c, "scanner", "stop")
    assert run_json(*c, "scanner", "status", code=3)["running"] is False
    refused = run("scanner", "start", code=2)  # the default config: no test signatures
    assert "signature" in refused.stderr


def test_batch_report_in_chinese(cfg, env):  # noqa: F811
    c = ["--config", str(cfg)]
    root = env / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    manifest = env / "m.csv"
    manifest.write_text("file,kind,unit,officer_id\nscan.pdf,document,market-001,P1\n",
                        encoding="utf-8")
    out = run_json(*c, "ingest", str(root), "--manifest", str(manifest))
    batches = run_json(*c, "batch", "list")["batches"]
    assert [b["batch_id"] for b in batches] == [out["batch_id"]]
    text = run(*c, "batch", "show", out["batch_id"]).stdout
    assert "四性检测报告" in text and "真实性" in text and "安全性" in text and "已入库" in text
    assert run_json(*c, "batch", "show", out["batch_id"])["counts"]["archived"] == 1
    assert "no batch 'nope'" in run(*c, "batch", "show", "nope", code=2).stderr


def test_unknown_unit_gaps_by_year_and_scratch_through_the_cli(cfg, env):  # noqa: F811
    c = ["--config", str(cfg)]
    run(*c, "devices", "add", "DSJ-0600", "--model", "X9", "--unit", "market-001")
    root = env / "offload"
    root.mkdir()
    for n in (1, 3):
        make_pdf(root / f"DSJ-0600_20260315_09{n}000_000{n}.pdf", text=f"page {n}")
    manifest = env / "m.csv"
    manifest.write_text("file,kind,unit,officer_id\nDSJ-0600_20260315_091000_0001.pdf,"
                        "document,城管大队,P1\n", encoding="utf-8")
    out = run_json(*c, "ingest", str(root), "--manifest", str(manifest), code=1)
    problem = out["manifest_problems"][0]
    assert (problem["code"], problem["line"], problem["value"]) == ("unknown-unit", 2, "城管大队")
    text = run(*c, "ingest", str(root), "--manifest", str(manifest), code=1).stdout
    assert "Manifest line 2" in text and "城管大队" in text
    assert run_json(*c, "devices", "list")["devices"][0]["gaps_by_year"] == {"2026": [2]}
    assert "2026: 2" in run(*c, "devices", "list").stdout
    assert run_json(*c, "reconcile")["scratch_removed"] == []
