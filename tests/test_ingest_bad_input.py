"""Bad input to the intake commands: special files in an offload and as a manifest, manifests
that cannot be one (the same reader for ingest and pending complete), unknown units, a bad
value in one field of a row, scratch folders of killed runs. A clear error, never a hang or a
traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from archive.domain.errors import InputError
from ingest import scratch
from ingest.manifest import load
from ingest.pipeline import Ingest
from tests.support.cli import env, run, run_json  # noqa: F401  (fixture and helpers)
from tests.support.corpus import make_pdf
from tests.support.offloads import fake_env, finishes, write_manifest  # noqa: F401

ROW = {"kind": "document", "unit": "market-001", "officer_id": "P1", "party": "王五",
       "cause": "无照经营"}


# --- special files ----------------------------------------------------------------------------
def test_a_fifo_or_socket_in_an_offload_is_rejected_without_being_opened(fake_env):
    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    os.mkfifo(root / "pipe.mp4")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock.mp4"))
    manifest = write_manifest(tmp / "m.json", [dict(ROW, file="scan.pdf")])
    try:
        report = finishes(lambda: Ingest(setup.archive, s, fake, setup.actor).run(
            root, manifest), fifos=(root / "pipe.mp4",))
    finally:
        sock.close()
    f = {x.file: x for x in report.files}
    assert f["scan.pdf"].state == "archived"
    for name, what in (("pipe.mp4", "FIFO"), ("sock.mp4", "socket")):
        out = f[name]
        assert out.state == "rejected" and out.item_id is None and out.sha256 is None
        assert out.reasons[0]["code"] == "special-file" and what in out.reasons[0]["message"]
        # renamed into the rejected area (same file system here), its report beside it
        assert not (root / name).exists() and Path(out.moved_to).exists()
        side = Path(out.moved_to + ".report.json")
        assert json.loads(side.read_text())["state"] == "rejected"
    assert report.exit_code == 1
    for name in ("pipe.mp4", "sock.mp4"):  # the store's test cleanup opens what it finds
        Path(f[name].moved_to).unlink()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_special_file_named_as_a_manifest_is_refused_unread(tmp_path, kind):
    path = tmp_path / "m.csv"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(InputError) as err:
        finishes(lambda: load(path), 10, fifos=(path,))
    assert str(path) in err.value.message
    assert ("FIFO" if kind == "fifo" else "folder") in err.value.message


# --- one manifest reader ----------------------------------------------------------------------
BAD_MANIFESTS = {
    # name: (file name, bytes, the line named, words of the reason)
    "gbk": ("m.csv", "file,unit,party\nscan.pdf,market-001,王五\n".encode("gbk"), 2, "GBK"),
    "truncated-json": ("m.json", b'{"files": [\n  {"file": "scan.pdf",\n   "unit": "mar', 3,
                       "cut off"),
    "list-of-strings": ("m.json", b'[\n  "scan.pdf",\n  "other.pdf"\n]\n', 2,
                        "not an object"),
    "rows-not-files": ("m.json", b'{"rows": []}', 1, '"files"'),
    "no-rows": ("m.json", b'{"files": []}', 1, "no rows"),
    "empty": ("m.csv", b"", 1, "empty"),
    "header-only": ("m.csv", b"file,unit,party\n", 1, "no rows"),
    "no-file-column": ("m.csv", b"name;unit\nscan.pdf;market-001\n", 1, "'file' column"),
    "nul": ("m.csv", b"file,unit\nscan.pdf,mar\x00ket\n", 2, "NUL"),
    "utf-16": ("m.csv", "file,unit\nscan.pdf,market-001\n".encode("utf-16"), 1, "UTF-8"),
    "scalar": ("m.json", b"42", 1, "list of objects"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_manifest_that_cannot_be_one_is_refused_with_its_line(tmp_path, case):
    name, data, line, words = BAD_MANIFESTS[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        load(path)
    assert err.value.message.startswith(f"manifest {path}, line {line}: "), err.value.message
    assert words in err.value.message


def test_json_rows_are_reported_on_their_own_lines(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"note": [1, 2],\n "files": [\n  {"file": "a.pdf"},\n\n'
                    '  {"file": "../b.pdf"},\n  {"file": "a.pdf", "colour": "red"}\n]}\n')
    m = load(path)
    assert m.rows["a.pdf"].line == 3
    assert [(p["code"], p["line"]) for p in m.problems] == [
        ("unsafe-path", 5), ("unknown-column", 6), ("duplicate-row", 6)]


@pytest.fixture
def cfg(env, clamd_scanner):  # noqa: F811
    path = env / "custody.toml"
    path.write_text(f'[scanner]\nsocket = "{clamd_scanner.socket_path}"\n')
    run("--config", str(path), "init")
    return path


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS) + ["fifo"])
def test_ingest_and_pending_complete_refuse_the_same_manifests_alike(cfg, env, case):  # noqa: F811
    c = ["--config", str(cfg)]
    root = env / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    if case == "fifo":
        path, line = env / "m.csv", None
        os.mkfifo(path)
    else:
        name, data, line, _ = BAD_MANIFESTS[case]
        path = env / name
        path.write_bytes(data)
    for args in (("ingest", str(root), "--manifest", str(path)),
                 ("pending", "complete", "--manifest", str(path))):
        out = finishes(lambda a=args: run(*c, *a, code=2), 60, fifos=(path,))
        assert "Traceback" not in out.output and "unexpected" not in out.output
        assert f"manifest {path}" + (f", line {line}:" if line else ":") in out.stderr
        refused = finishes(lambda a=args: run_json(*c, *a, code=2), 60, fifos=(path,))
        assert refused["error"] == "bad-input" and str(path) in refused["message"]
    assert (root / "scan.pdf").exists()  # nothing was touched
    path.unlink()  # the store's test cleanup opens what it finds


# --- unknown units, one bad field -------------------------------------------------------------
def test_an_unknown_unit_preserves_the_bytes_as_a_manifest_problem(fake_env):
    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    manifest = write_manifest(tmp / "m.json", [dict(ROW, file="scan.pdf", unit="UNKNOWN")])
    report = Ingest(setup.archive, s, fake, setup.actor).run(root, manifest)
    out = report.files[0]
    assert out.state == "archived-pending-metadata" and out.item_id  # preserved first
    assert report.exit_code == 1
    problem = report.manifest_problems[0]
    assert (problem["code"], problem["file"], problem["line"], problem["field"],
            problem["value"]) == ("unknown-unit", "scan.pdf", 1, "unit", "UNKNOWN")
    assert "market-001" in problem["message"]  # the configured units are named
    item = setup.catalog.get_item(out.item_id)
    assert item.description.unit is None and item.description.party == "王五"
    assert item.checks["manifest"]["problems"][0]["code"] == "unknown-unit"


def test_devices_add_refuses_an_unknown_unit(env):  # noqa: F811
    run("init")
    refused = run("devices", "add", "DSJ-1", "--model", "X", "--unit", "UNKNOWN", code=2)
    assert "UNKNOWN" in refused.stderr and "market-001" in refused.stderr
    assert run_json("devices", "list")["devices"] == []
    run("devices", "add", "DSJ-1", "--model", "X", "--unit", "market-001")


def test_a_bad_value_affects_its_own_field_only(fake_env):
    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    root.mkdir()
    for n in range(4):
        make_pdf(root / f"{n}.pdf", text=f"scan {n}")
    manifest = write_manifest(tmp / "m.json", [
        dict(ROW, file="0.pdf", recorded_start="2026/12/01 08:14",
             recorded_end="2026-12-01 08:20", activity_id="ACT-1"),
        dict(ROW, file="1.pdf", activity_type="巡逻"),
        dict(ROW, file="2.pdf", confidential="机密", important="maybe"),
        dict(ROW, file="3.pdf", recorded_start="2026-12-01 09:00",
             recorded_end="2026-12-01 08:00"),
    ])
    report = Ingest(setup.archive, s, fake, setup.actor).run(root, manifest)
    f = {x.file: x for x in report.files}
    assert {x.state for x in report.files} == {"archived-pending-metadata"}
    item = setup.catalog.get_item(f["0.pdf"].item_id)
    d = item.description
    assert (d.unit, d.officers, d.party, d.cause, d.activity_id) == (
        "market-001", ["P1"], "王五", "无照经营", "ACT-1")
    assert d.recorded_start is None and d.recorded_end is not None
    reasons = [r for r in f["0.pdf"].reasons if r["code"] == "bad-field"]
    assert len(reasons) == 1 and "recorded_start '2026/12/01 08:14'" in reasons[0]["message"]
    assert "unit is missing" not in str(f["0.pdf"].reasons)
    d1 = setup.catalog.get_item(f["1.pdf"].item_id).description
    assert d1.activity_type is None and d1.party == "王五"
    d2 = setup.catalog.get_item(f["2.pdf"].item_id).description
    # an unrecognised secrecy mark keeps the item confidential, at the strictest class
    assert d2.confidential == "state-secret" and d2.important is False
    d3 = setup.catalog.get_item(f["3.pdf"].item_id).description
    assert d3.recorded_start is None and d3.recorded_end is None and d3.unit == "market-001"
    fields = sorted((p["file"], p["field"]) for p in report.manifest_problems)
    assert fields == [("0.pdf", "recorded_start"), ("1.pdf", "activity_type"),
                      ("2.pdf", "confidential"), ("2.pdf", "important"),
                      ("3.pdf", "recorded_start,recorded_end")]
    assert all(p["line"] for p in report.manifest_problems)


def test_completion_takes_the_good_fields_and_names_the_bad(fake_env):
    from ingest.completion import complete

    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    item_id = Ingest(setup.archive, s, fake, setup.actor).run(root).files[0].item_id
    fix = tmp / "fix.csv"
    fix.write_text("file,unit,party,document_date\nscan.pdf,market-001,张三,2026/12/01\n",
                   encoding="utf-8")
    result = complete(setup.archive, s, setup.actor, fix)
    assert [r["item"] for r in result["completed"]] == [item_id]
    assert [(p["line"], p["field"]) for p in result["problems"]] == [(2, "document_date")]
    assert setup.catalog.get_item(item_id).description.party == "张三"


# --- scratch folders of killed runs -----------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_scratch_folders_of_dead_processes_are_removed(fake_env, monkeypatch):
    setup, s, fake, tmp = fake_env
    temp = tmp / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    dead = temp / f"custody-ingest-{_dead_pid()}-abc"
    dead.mkdir()
    (dead / "x.pdf").symlink_to("/proc/self/fd/9")
    reused = temp / f"custody-ingest-{os.getpid()}-def"  # this pid, another process's start
    reused.mkdir()
    (reused / "owner").write_text(f"{os.getpid()} 1\n")
    live = scratch.make(temp)
    old = temp / "custody-ingest-k3j2h1"  # made before folders named their process
    old.mkdir()
    stale = temp / "custody-ingest-q8w7e6"  # ... and untouched for two days
    stale.mkdir()
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    root = tmp / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    Ingest(setup.archive, s, fake, setup.actor).run(root)
    assert sorted(p.name for p in temp.iterdir()) == sorted([live.name, old.name])
    dead.mkdir()
    from ingest.recovery import reconcile

    report = reconcile(setup.archive, setup.actor, scratch_dir=str(temp))
    assert report["scratch_removed"] == [dead.name] and live.exists()
