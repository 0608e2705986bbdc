"""Offline signature updates (`custody scanner update --from DIR`) against real clamd.

No Talos-signed database can be made offline, so the containers here are unsigned .cud files
that sigtool builds from the project's test signatures (with real version numbers and build
times); they go in under --allow-unsigned. That a signed suffix is really checked is shown by a
.cud renamed to .cvd, which libclamav refuses to load ("Can't verify database integrity").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import bootstrap
from config import settings
from scanners.clamd import (
    CLEAN,
    INFECTED,
    TEST_SIGNATURES_DIR,
    PrivateClamd,
    ScannerUnavailable,
)
from scanners.clamd_daemon import CURRENT
from scanners.signature_update import MANIFEST, UpdateRefused, container_header, install
from tests.support.clamd import CLAM_EXE, EICAR
from tests.support.cli import run, run_json

# A third test signature, in none of the project's files: proves which database clamd runs.
EXTRA = b"custody signature update: this line is only detected by the updated database"
EXTRA_NDB = f"Custody.Test.Extra:0:*:{EXTRA.hex()}\n"


def build_cud(dest: Path, version: int, name: str = "daily", extra: bool = False,
              ndb: str | None = None) -> Path:
    """A real ClamAV container (unsigned .cud) built by sigtool: of the test signatures (and
    EXTRA), or of the given .ndb lines only."""
    work = dest.parent / f".build-{dest.name}-{name}-{version}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "datadir").mkdir(parents=True)
    (work / "COPYING").write_text("custody test database\n")
    if ndb is not None:
        (work / f"{name}.ndb").write_text(ndb)
    else:
        shutil.copy(TEST_SIGNATURES_DIR / "custody-test-eicar.ndb", work / f"{name}.ndb")
        shutil.copy(TEST_SIGNATURES_DIR / "custody-test-clamexe.hdb", work / f"{name}.hdb")
    if extra:
        (work / f"{name}.ndb").write_text((work / f"{name}.ndb").read_text() + EXTRA_NDB)
    subprocess.run(["sigtool", "--datadir=datadir", f"--build={name}.cud", "--unsigned",
                    f"--cvd-version={version}", "--no-cdiff"], cwd=work,
                   input=b"custody-test\n", check=True, capture_output=True)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / f"{name}.cud", dest / f"{name}.cud")
    shutil.rmtree(work)
    return dest / f"{name}.cud"


@pytest.fixture
def daemon(tmp_path: Path):
    d = PrivateClamd(tmp_path / "home", allow_test_signatures=True)
    d.start()
    yield d
    d.stop()


def installed_dirs(d: PrivateClamd) -> list[str]:
    if not d.databases_dir.exists():
        return []
    return sorted(p.name for p in d.databases_dir.iterdir() if not p.name.startswith("."))


def assert_untouched(d: PrivateClamd, before: tuple) -> None:
    """The database in use, the daemon and the installed directories are as they were, and
    the daemon still scans."""
    assert (d.status()["pid"], d.scanner().version(), installed_dirs(d)) == before
    assert d.scanner().scan_bytes(EICAR).status == INFECTED
    assert d.scanner().scan_bytes(b"ordinary\n").status == CLEAN


def snapshot(d: PrivateClamd) -> tuple:
    return d.status()["pid"], d.scanner().version(), installed_dirs(d)


# -- a good update ---------------------------------------------------------------------------


def test_update_switches_the_running_daemon(daemon: PrivateClamd, tmp_path: Path) -> None:
    assert daemon.scanner().scan_bytes(EXTRA).status == CLEAN  # the test sigs lack it
    old_pid, (_, old_db) = daemon.status()["pid"], daemon.scanner().version()
    assert old_db.startswith("custody test signatures")
    cud = build_cud(tmp_path / "usb", 27500, extra=True)
    (tmp_path / "usb" / "README.txt").write_text("mirror notes\n")

    result = install(daemon, tmp_path / "usb", installed_by="AR1", allow_unsigned=True)

    engine, database = daemon.scanner().version()
    assert database.startswith("27500/") and result.database == database
    assert result.clamd_version == f"{engine}/{database}"
    assert daemon.status()["pid"] != old_pid and result.restarted
    assert daemon.scanner().scan_bytes(EXTRA).signature == "Custody.Test.Extra.UNOFFICIAL"
    assert daemon.scanner().scan_bytes(CLAM_EXE.read_bytes()).status == INFECTED
    [f] = result.files
    header = container_header(cud)
    assert (f.name, f.kind, f.version, f.signatures) == ("daily.cud", "unsigned container",
                                                         27500, 3)
    assert f.build_time == header["build_time"] and f.size == cud.stat().st_size
    assert f.sha256 == __import__("hashlib").sha256(cud.read_bytes()).hexdigest()
    assert result.ignored == ["README.txt"] and result.unsigned
    # The daemon loads the new directory through databases/current; its copy is the file's.
    current = daemon.databases_dir / CURRENT
    assert current.is_symlink() and not os.readlink(current).startswith("/")
    assert Path(daemon.status()["database_dir"]) == current.resolve() == Path(result.directory)
    assert (current / "daily.cud").read_bytes() == cud.read_bytes()
    assert json.loads((current / MANIFEST).read_text())["installed_by"] == "AR1"
    # Another process (custody scanner status, an ingest) finds the same database.
    again = PrivateClamd(daemon.home, allow_test_signatures=True)
    assert again.scanner().version()[1] == database


def test_a_stopped_daemon_loads_the_update_at_its_next_start(tmp_path: Path) -> None:
    d = PrivateClamd(tmp_path / "home", allow_test_signatures=True)
    build_cud(tmp_path / "usb", 27501)
    result = install(d, tmp_path / "usb", installed_by="AR1", allow_unsigned=True)
    assert result.restarted is False and d.status()["running"] is False
    try:
        assert d.start().version()[1].startswith("27501/")
    finally:
        d.stop()


def test_plain_signature_files_under_allow_unsigned(daemon: PrivateClamd, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    shutil.copy(TEST_SIGNATURES_DIR / "custody-test-eicar.ndb", usb / "local.ndb")
    (usb / "extra.ndb").write_text(EXTRA_NDB)
    (usb / "local.ign2").write_text("# nothing ignored\n")
    before = daemon.scanner().version()[1]
    with pytest.raises(UpdateRefused, match="extra.ndb: a plain signature file.*allow-unsigned"):
        install(daemon, usb, installed_by="AR1")
    result = install(daemon, usb, installed_by="AR1", allow_unsigned=True)
    # No version from clamd for plain files: the label names their content.
    label = daemon.scanner().version()[1]
    assert label.startswith("custody test signatures sha256:") and label != before
    assert result.database == label
    assert [f.signatures for f in result.files] == [1, 0, 1]  # extra, local.ign2, local.ndb
    assert daemon.scanner().scan_bytes(EXTRA).status == INFECTED
    assert daemon.scanner().scan_bytes(CLAM_EXE.read_bytes()).status == CLEAN  # no .hdb now


def test_two_directories_are_kept(daemon: PrivateClamd, tmp_path: Path) -> None:
    names = []
    for version in (27500, 27501, 27502):
        build_cud(tmp_path / f"usb{version}", version)
        names.append(Path(install(daemon, tmp_path / f"usb{version}", installed_by="AR1",
                                  allow_unsigned=True).directory).name)
    assert installed_dirs(daemon) == sorted([CURRENT, *names[1:]])
    assert daemon.scanner().version()[1].startswith("27502/")


# -- refusals: the database in use stays ---------------------------------------------------


def test_unsigned_container_needs_the_flag(daemon: PrivateClamd, tmp_path: Path) -> None:
    build_cud(tmp_path / "usb", 27500)
    before = snapshot(daemon)
    with pytest.raises(UpdateRefused, match="daily.cud: an unsigned container"):
        install(daemon, tmp_path / "usb", installed_by="AR1")
    assert_untouched(daemon, before)


def test_corrupt_container_is_refused(daemon: PrivateClamd, tmp_path: Path) -> None:
    build_cud(tmp_path / "good", 27500)
    install(daemon, tmp_path / "good", installed_by="AR1", allow_unsigned=True)
    before = snapshot(daemon)
    data = bytearray(build_cud(tmp_path / "usb", 27501).read_bytes())
    data[700] ^= 0xFF  # inside the compressed body; the header still reads fine
    (tmp_path / "usb" / "daily.cud").write_bytes(data)
    assert container_header(tmp_path / "usb" / "daily.cud")["version"] == 27501
    with pytest.raises(UpdateRefused, match="daily.cud: clamd cannot load it: Malformed"):
        install(daemon, tmp_path / "usb", installed_by="AR1", allow_unsigned=True)
    assert_untouched(daemon, before)
    assert before[1][1].startswith("27500/")


def test_a_forged_signed_container_is_refused(daemon: PrivateClamd, tmp_path: Path) -> None:
    """A .cvd needs no flag, because libclamav checks its Talos signature: an unsigned
    container renamed .cvd does not load."""
    build_cud(tmp_path / "usb", 27500).rename(tmp_path / "usb" / "daily.cvd")
    before = snapshot(daemon)
    with pytest.raises(UpdateRefused, match="daily.cvd: clamd cannot load it: Can't verify"):
        install(daemon, tmp_path / "usb", installed_by="AR1")
    assert_untouched(daemon, before)


@pytest.mark.parametrize("name,content,reason", [
    ("daily.cvd", os.urandom(2000), "daily.cvd: not a ClamAV database .no ClamAV-VDB header"),
    ("main.cud", b"ClamAV-VDB:garbage", "main.cud: malformed ClamAV-VDB header"),
    ("local.ndb", b"\x89PNG\r\n\x1a\n\0\0\0", "local.ndb: not a ClamAV signature file"),
    ("local.ndb", b"this is no signature\n", "local.ndb: clamd cannot load it"),
    ("local.hdb", b"", "local.hdb: empty"),
])
def test_files_that_are_no_database_are_refused(daemon: PrivateClamd, tmp_path: Path,
                                                name: str, content: bytes, reason: str) -> None:
    (tmp_path / "usb").mkdir()
    (tmp_path / "usb" / name).write_bytes(content)
    before = snapshot(daemon)
    with pytest.raises(UpdateRefused, match=reason):
        install(daemon, tmp_path / "usb", installed_by="AR1", allow_unsigned=True)
    assert_untouched(daemon, before)


def _symlink(usb: Path, outside: Path) -> None:
    (usb / "daily.cud").symlink_to(outside / "daily.cud")


def _fifo(usb: Path, outside: Path) -> None:
    os.mkfifo(usb / "daily.cud")


@pytest.mark.parametrize("arrange,reason", [
    (_symlink, "daily.cud: a symbolic link"),
    (_fifo, "daily.cud: not a regular file"),
    (lambda usb, o: (usb / "daily.cud").mkdir(), "daily.cud: not a regular file"),
    (lambda usb, o: shutil.copy(o / "daily.cud", usb / "daily .cud"), "refused file name"),
    (lambda usb, o: shutil.copy(o / "daily.cud", usb / "daily\n.cud"), "refused file name"),
    (lambda usb, o: shutil.copy(o / "daily.cud", usb / "-daily.cud"), "refused file name"),
    (lambda usb, o: shutil.copy(o / "daily.cud", usb / "日常.cud"), "refused file name"),
    (lambda usb, o: shutil.copy(o / "daily.cud", usb / "DAILY.CUD"), "upper-case suffix"),
    (lambda usb, o: (shutil.copy(o / "daily.cud", usb / "daily.cud"),
                     shutil.copy(o / "daily.cud", usb / "daily.cld")),
     "daily.cud: the same database as daily.cld"),
])
def test_path_tricks_are_refused(daemon: PrivateClamd, tmp_path: Path, arrange,
                                 reason: str) -> None:
    build_cud(tmp_path / "outside", 27500)
    (tmp_path / "usb").mkdir()
    arrange(tmp_path / "usb", tmp_path / "outside")
    before = snapshot(daemon)
    with pytest.raises(UpdateRefused, match=reason):
        install(daemon, tmp_path / "usb", installed_by="AR1", allow_unsigned=True)
    assert_untouched(daemon, before)


def test_hidden_files_and_folders_are_ignored_not_followed(daemon: PrivateClamd,
                                                           tmp_path: Path) -> None:
    build_cud(tmp_path / "usb", 27500)
    (tmp_path / "usb" / ".daily.cld").symlink_to("/etc/passwd")
    (tmp_path / "usb" / "sub").mkdir()
    result = install(daemon, tmp_path / "usb", installed_by="AR1", allow_unsigned=True)
    assert result.ignored == [".daily.cld", "sub"]
    assert sorted(os.listdir(result.directory)) == sorted(["daily.cud", MANIFEST])


def test_test_signatures_are_refused_in_production(tmp_path: Path) -> None:
    """A daemon not allowed test signatures takes none from an update either, also when they
    come renamed or packed into a container."""
    local = tmp_path / "local"
    local.mkdir()
    (local / "local.ndb").write_text(f"Local.Sample:0:*:{b'a local sample'.hex()}\n")
    d = PrivateClamd(tmp_path / "home", database_dir=local)
    d.start()
    try:
        before = snapshot(d)
        build_cud(tmp_path / "packed", 27500)
        with pytest.raises(UpdateRefused, match="daily.cud: holds custody test signatures"):
            install(d, tmp_path / "packed", installed_by="AR1", allow_unsigned=True)
        (tmp_path / "renamed").mkdir()
        shutil.copy(TEST_SIGNATURES_DIR / "custody-test-eicar.ndb",
                    tmp_path / "renamed" / "vendor.ndb")
        with pytest.raises(UpdateRefused, match="vendor.ndb: holds custody test signatures"):
            install(d, tmp_path / "renamed", installed_by="AR1", allow_unsigned=True)
        assert (d.status()["pid"], d.scanner().version(), installed_dirs(d)) == before
        # Real signatures (not named Custody.Test.) go in.
        build_cud(tmp_path / "real", 27500, ndb=f"Vendor.Sample:0:*:{EXTRA.hex()}\n")
        install(d, tmp_path / "real", installed_by="AR1", allow_unsigned=True)
        assert d.scanner().scan_bytes(EXTRA).signature == "Vendor.Sample.UNOFFICIAL"
        assert d.scanner().version()[1].startswith("27500/")
    finally:
        d.stop()


def test_an_older_database_is_refused(daemon: PrivateClamd, tmp_path: Path) -> None:
    build_cud(tmp_path / "new", 27500)
    install(daemon, tmp_path / "new", installed_by="AR1", allow_unsigned=True)
    before = snapshot(daemon)
    build_cud(tmp_path / "old", 27499)
    with pytest.raises(UpdateRefused, match="daily.cud: version 27499 is older than daily.cud "
                       "version 27500 in use"):
        install(daemon, tmp_path / "old", installed_by="AR1", allow_unsigned=True)
    assert_untouched(daemon, before)
    # The same version again is no step back (a re-run after an interrupted update).
    install(daemon, tmp_path / "new", installed_by="AR1", allow_unsigned=True)
    assert daemon.scanner().version()[1].startswith("27500/")


def test_a_database_in_use_cannot_be_left_out(daemon: PrivateClamd, tmp_path: Path) -> None:
    build_cud(tmp_path / "full", 27500)
    build_cud(tmp_path / "full", 60, name="main")
    install(daemon, tmp_path / "full", installed_by="AR1", allow_unsigned=True)
    before = snapshot(daemon)
    build_cud(tmp_path / "daily-only", 27501)
    with pytest.raises(UpdateRefused, match="main.cud: in use .version 60. but not in the update"):
        install(daemon, tmp_path / "daily-only", installed_by="AR1", allow_unsigned=True)
    assert_untouched(daemon, before)


def test_no_database_files(daemon: PrivateClamd, tmp_path: Path) -> None:
    (tmp_path / "usb").mkdir()
    (tmp_path / "usb" / "notes.txt").write_text("x")
    with pytest.raises(UpdateRefused, match="no ClamAV database files"):
        install(daemon, tmp_path / "usb", installed_by="AR1", allow_unsigned=True)


def test_a_failed_restart_goes_back_to_the_previous_database(daemon: PrivateClamd,
                                                            tmp_path: Path) -> None:
    """switch_database alone (the checks bypassed): clamd does not come up on a broken
    directory, so the link goes back and the daemon runs on the previous database again."""
    build_cud(tmp_path / "usb", 27500)
    good = Path(install(daemon, tmp_path / "usb", installed_by="AR1",
                        allow_unsigned=True).directory)
    broken = daemon.databases_dir / "broken"
    broken.mkdir()
    (broken / "broken.ndb").write_text("this is no signature\n")
    with pytest.raises(ScannerUnavailable, match="clamd did not start"):
        daemon.switch_database(broken)
    assert (daemon.databases_dir / CURRENT).resolve() == good
    assert daemon.scanner().version()[1].startswith("27500/")
    assert daemon.scanner().scan_bytes(EICAR).status == INFECTED


# -- the command -----------------------------------------------------------------------------


@pytest.fixture
def office(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CUSTODY_TESTING", "1")
    monkeypatch.setenv("CUSTODY_TEST_PEOPLE_DIR", str(tmp_path / "people"))
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    cfg = tmp_path / "custody.toml"
    cfg.write_text("[scanner]\nallow_test_signatures = true\n")
    monkeypatch.setenv("CUSTODY_CONFIG", str(cfg))
    run("init")
    run("people", "add", "AR1", "--name", "档案员", "--account", "ar1", "--role", "archivist")
    run("people", "add", "OF1", "--name", "执法员", "--account", "of1", "--role", "officer")
    yield monkeypatch
    try:
        run("scanner", "stop")
    finally:
        from tests.support.worm import release_all_for_tests

        release_all_for_tests(tmp_path)


def ingest_one(root: Path, name: str, **pdf) -> dict:
    """Ingest one scanned document; the item's stored virus check record."""
    from tests.support.corpus import make_pdf

    root.mkdir(parents=True, exist_ok=True)
    make_pdf(root / name, **pdf)
    manifest = root.parent / f"{root.name}.csv"
    manifest.write_text(f"file,kind,unit,officer_id\n{name},document,market-001,OF1\n",
                        encoding="utf-8")
    out = run_json("ingest", str(root), "--manifest", str(manifest))
    [f] = out["files"]
    assert f["state"] in ("archived", "pending"), f
    archive = bootstrap.open_archive(settings.load())
    try:
        return archive.catalog.get_item(f["item_id"]).checks["virus"]
    finally:
        archive.catalog.close()


def test_cli_update_records_and_later_items_name_the_new_database(office, tmp_path):
    run("scanner", "start")
    before = ingest_one(tmp_path / "in1", "a.pdf")
    assert before["database"].startswith("custody test signatures sha256:")
    build_cud(tmp_path / "usb", 27500)

    office.setenv("CUSTODY_ACT_AS", "OF1")
    r = run("scanner", "update", "--from", str(tmp_path / "usb"), "--allow-unsigned", code=2)
    assert "OF1 may not update the virus signatures" in r.stderr
    office.setenv("CUSTODY_ACT_AS", "AR1")
    r = run("scanner", "update", "--from", str(tmp_path / "usb"), code=2)
    assert "refused, the database in use is unchanged: daily.cud: an unsigned" in r.stderr
    doc = run_json("scanner", "update", "--from", str(tmp_path / "usb"), "--allow-unsigned")
    assert doc["installed_by"] == "AR1" and doc["database"].startswith("27500/")
    assert doc["files"][0]["version"] == 27500 and doc["restarted"] is True

    status = run_json("scanner", "status")
    assert status["database"] == doc["database"]
    assert status["last_update"]["by"] == "AR1"
    assert status["last_update"]["at"] == doc["installed_at"]
    text = run("scanner", "status").stdout
    assert "27500/" in text and " by AR1 from " in text  # the time in the unit's zone

    after = ingest_one(tmp_path / "in2", "b.pdf", xref_stream=True)
    assert after["database"] == doc["database"] != before["database"]

    archive = bootstrap.open_archive(settings.load())
    try:
        record = archive.catalog.get_record("meta", doc["id"])
        assert record["files"][0]["sha256"] == doc["files"][0]["sha256"]
        from ingest.signature_updates import last_update

        assert last_update(archive)["id"] == doc["id"]
        entries = [e for e in archive.catalog.ledger_entries()
                   if e.action.startswith("scanner-update")]
        assert [(e.action, e.actor) for e in entries] == [
            ("scanner-update-started", "AR1"), ("scanner-update-refused", "AR1"),
            ("scanner-update-started", "AR1"), ("scanner-update", "AR1")]
        assert entries[3].subject == doc["id"]
        assert entries[3].details["files"][0]["version"] == 27500
    finally:
        archive.catalog.close()
    assert run_json("audit", "verify")["ok"]

    build_cud(tmp_path / "old", 27499)
    r = run("scanner", "update", "--from", str(tmp_path / "old"), "--allow-unsigned", code=2)
    assert "daily.cud: version 27499 is older" in r.stderr
    assert run_json("scanner", "status")["database"] == doc["database"]


def test_cli_text_output(office, tmp_path):
    build_cud(tmp_path / "usb", 27500)
    out = run("scanner", "update", "--from", str(tmp_path / "usb"), "--allow-unsigned").stdout
    assert "Signatures updated by 系统管理员（admin）: database 27500/" in out
    assert "clamd is not running; it loads this at its next start" in out
    assert "daily.cud" in out and "version 27500" in out


def test_cli_refuses_an_external_clamd(office, tmp_path):
    cfg = tmp_path / "external.toml"
    cfg.write_text(f'[scanner]\nsocket = "{tmp_path / "clamd.sock"}"\n')
    build_cud(tmp_path / "usb", 27500)
    r = run("--config", str(cfg), "scanner", "update", "--from", str(tmp_path / "usb"), code=2)
    assert "manages only the private clamd's database" in r.stderr
    assert not (tmp_path / "data" / "scanner" / "databases").exists()
