"""`custody watch DIR`: offloads a docking station writes are ingested once each, when they are
complete (a marker, or a settle time, and no file open for writing), through the very
service `custody ingest` runs; a restart never takes a finished folder again; an outage
leaves the batch to be retried; a stop lets the batch in progress finish.

The service is driven on SQLite, the local store and the fake scanner with a clock the test
moves; the command through CliRunner and, for the signal, in its own process against the
session's real clamd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive.catalog.base import Query
from archive.domain.errors import ServiceUnavailable
from ingest import watch as watch_mod
from ingest.watch import DONE, RETRY, Watcher, WatchPolicy, WatchState, open_for_writing
from tests.support.clamd import EICAR
from tests.support.cli import env, run, run_json  # noqa: F401  (fixture and helpers)
from tests.support.corpus import make_pdf
from tests.support.offloads import fake_env, write_manifest  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
ROW = {"kind": "document", "unit": "market-001", "officer_id": "P1", "party": "王五",
       "cause": "无照经营"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def offload(parent: Path, name: str, files: int = 2, marker: bool = False,
            tag: str = "") -> Path:
    """An offload as a station writes it: PDFs with their manifest at the top."""
    root = parent / name
    root.mkdir(parents=True)
    for i in range(files):
        make_pdf(root / f"scan-{i}.pdf", text=f"{name}{tag} page {i}")
    write_manifest(root / "manifest.json", [dict(ROW, file=f"scan-{i}.pdf")
                                            for i in range(files)])
    if marker:
        (parent / f"{name}.complete").touch()
    return root


@pytest.fixture
def watched(fake_env):  # noqa: F811
    setup, s, scanner, tmp = fake_env
    inbox = tmp / "inbox"
    inbox.mkdir()
    clock = Clock()
    events: list[dict] = []
    made: list[Watcher] = []

    def watcher(**kw) -> Watcher:
        policy = kw.pop("policy", WatchPolicy(settle_s=60, poll_s=1, retry_s=30))
        w = Watcher(setup.archive, setup.actor, s, lambda: scanner, inbox, policy=policy,
                    state=tmp / "watch.sqlite", on_event=events.append, clock=clock,
                    station="ST-W", workers=1, **kw)
        made.append(w)
        return w

    yield setup, inbox, clock, events, watcher, scanner
    for w in made:
        w.close()


def _items(setup) -> int:
    return setup.catalog.count(Query())


def _batches(setup) -> list[dict]:
    return setup.catalog.list_records("batches")


def _kinds(events: list[dict], folder: str) -> list[str]:
    return [e["event"] for e in events if e["folder"] == folder]


# --- complete: a marker, a settle time, nothing open for writing ----------------------------
def test_a_folder_with_its_marker_is_ingested_once_and_moved_to_done(watched):
    setup, inbox, _clock, events, watcher, _ = watched
    offload(inbox, "2026-11-22-A", marker=True)
    make_pdf(inbox / "loose.pdf")  # not an offload folder: named once, never taken
    w = watcher()
    assert w.poll() == [0]
    assert (inbox / "loose.pdf").is_file()
    assert _items(setup) == 2
    batch = _batches(setup)
    assert len(batch) == 1 and batch[0]["station"] == "ST-W"
    assert batch[0]["counts"]["archived"] == 2
    # moved with its marker, never deleted; nothing left to take
    assert not (inbox / "2026-11-22-A").exists()
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        "2026-11-22-A", "2026-11-22-A.complete"]
    assert (inbox / "done" / "2026-11-22-A" / "scan-0.pdf").is_file()
    assert w.poll() == [] and len(_batches(setup)) == 1
    assert _kinds(events, "loose.pdf") == ["ignored"]
    assert _kinds(events, "2026-11-22-A") == ["seen", "ingesting", "batch-done", "moved"]
    done = [e for e in events if e["event"] == "batch-done"][0]
    assert done["batch_id"] == batch[0]["batch_id"] and done["exit_code"] == 0
    row = WatchState(w.state.path).rows(str(inbox.resolve()))[0]
    assert row["state"] == DONE and row["batches"] == [batch[0]["batch_id"]]
    assert row["moved_to"] == str((inbox / "done" / "2026-11-22-A").resolve())


def test_a_folder_still_being_written_waits_until_it_settles(watched):
    setup, inbox, clock, events, watcher, _ = watched
    root = offload(inbox, "B")
    w = watcher()
    assert w.poll() == []  # seen: its settle time starts now
    clock.advance(59)
    with (root / "scan-0.pdf").open("ab") as f:  # the copy goes on: a file grows
        f.write(b"%% more\n")
    assert w.poll() == [] and _items(setup) == 0  # changed: its settle time starts again
    clock.advance(59)  # 118 s after it was first seen, 59 s after it last changed
    assert w.poll() == [] and _items(setup) == 0
    clock.advance(1)  # 60 s without a change
    assert w.poll() == [0] and _items(setup) == 2
    # waiting is said once, not at every look
    assert _kinds(events, "B") == ["seen", "waiting", "ingesting", "batch-done", "moved"]


def test_a_file_open_for_writing_holds_even_a_marked_folder(watched):
    setup, inbox, _clock, events, watcher, _ = watched
    root = offload(inbox, "C", marker=True)
    w = watcher()
    with (root / "scan-1.pdf").open("ab"):
        assert open_for_writing(root) == ["scan-1.pdf"]
        assert w.poll() == [] and w.poll() == []
    assert open_for_writing(root) == []
    assert w.poll() == [0] and _items(setup) == 2
    busy = [e for e in events if e["event"] == "busy"]
    assert len(busy) == 1 and busy[0]["files"] == ["scan-1.pdf"]


def test_the_settle_time_runs_across_restarts_for_cron(watched):
    """`watch --once` from cron: the first run only sees the folder, a later one takes it."""
    setup, inbox, clock, _events, watcher, _ = watched
    offload(inbox, "S")
    first = watcher()
    assert first.poll() == []
    first.close()
    clock.advance(60)
    assert watcher().poll() == [0] and _items(setup) == 2


def test_require_marker_ignores_the_settle_time(watched):
    setup, inbox, clock, _events, watcher, _ = watched
    offload(inbox, "D")
    w = watcher(policy=WatchPolicy(settle_s=0, require_marker=True))
    clock.advance(3600)
    assert w.poll() == [] and _items(setup) == 0
    (inbox / "D.complete").touch()
    assert w.poll() == [0] and _items(setup) == 2


# --- restarts -------------------------------------------------------------------------------
def test_a_restart_never_ingests_a_finished_folder_again(watched, monkeypatch):
    setup, inbox, _clock, events, watcher, _ = watched
    offload(inbox, "E", marker=True)
    first = watcher()
    # the process dies after the batch is recorded done, before the folder is moved
    monkeypatch.setattr(Watcher, "_move_done", lambda self, row, folder: None)
    assert first.poll() == [0]
    first.close()
    monkeypatch.undo()
    ran: list[Path] = []
    real = watch_mod.ingest_offload
    monkeypatch.setattr(watch_mod, "ingest_offload",
                        lambda *a, **kw: ran.append(a[4]) or real(*a, **kw))
    second = watcher()  # a new process: a new watcher on the same state
    assert second.poll() == []
    assert ran == [] and len(_batches(setup)) == 1
    assert (inbox / "done" / "E").is_dir() and not (inbox / "E").exists()
    # a later offload under the same name is another folder: it is taken
    offload(inbox, "E", files=1, marker=True, tag="later")
    assert second.poll() == [0] and len(ran) == 1
    assert (inbox / "done" / "E.1").is_dir() and (inbox / "done" / "E.1.complete").exists()
    assert _items(setup) == 3


def test_a_batch_cut_off_by_a_kill_is_run_again_after_the_restart(watched, monkeypatch):
    setup, inbox, _clock, events, watcher, _ = watched
    offload(inbox, "F", marker=True)
    first = watcher()

    def killed(*a, **kw):
        raise SystemExit("killed mid-batch")  # nothing after this line runs in the process

    monkeypatch.setattr(watch_mod, "ingest_offload", killed)
    with pytest.raises(SystemExit):
        first.poll()
    first.close()
    monkeypatch.undo()
    second = watcher()
    assert second.poll() == [0] and _items(setup) == 2
    assert "resuming" in _kinds(events, "F")


def test_two_watchers_never_watch_one_folder(watched):
    _setup, inbox, _clock, _events, watcher, _ = watched
    from archive.domain.errors import InputError

    with watch_mod._exclusive(inbox.resolve()):
        with pytest.raises(InputError, match="already watching"):
            watcher().run(once=True)


# --- outages and problems -------------------------------------------------------------------
def test_an_outage_during_a_batch_leaves_it_to_be_retried(watched, monkeypatch):
    setup, inbox, clock, events, watcher, _ = watched
    offload(inbox, "G", files=3, marker=True)
    store = setup.archive.store
    real = store.begin_object
    calls = {"n": 0, "down": True}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["down"] and calls["n"] > 1:  # the store goes away after the first file
            raise ServiceUnavailable("S3", "http://rgw:7480", "connection refused")
        return real(*a, **kw)

    monkeypatch.setattr(store, "begin_object", flaky)
    w = watcher()
    assert w.poll() == [3]
    assert (inbox / "G").is_dir() and not (inbox / "done" / "G").exists()
    row = w.state.rows(str(inbox.resolve()))[0]
    assert row["state"] == RETRY and row["exit_code"] == 3
    assert "connection refused" in row["error"]
    calls["down"] = False
    clock.advance(29)
    assert w.poll() == []  # not before its time
    clock.advance(1)
    assert w.poll() == [0]
    assert _items(setup) == 3  # the file archived before the outage is not a second item
    assert (inbox / "done" / "G").is_dir()
    assert _kinds(events, "G") == ["seen", "ingesting", "retry", "ingesting", "batch-done",
                                   "moved"]


def test_the_wait_doubles_up_to_its_ceiling(watched):
    _setup, inbox, clock, events, watcher, scanner = watched
    offload(inbox, "H", files=1, marker=True)
    scanner.available = False  # clamd down: ServiceUnavailable before anything is touched
    w = watcher(policy=WatchPolicy(retry_s=10, retry_max_s=25))
    waits = []
    for _ in range(4):
        assert w.poll() == [3]
        waits.append(events[-1]["retry_in_s"])
        clock.advance(waits[-1])
    assert waits == [10, 20, 25, 25]
    scanner.available = True
    assert w.poll() == [0]


def test_a_batch_with_problems_is_done_and_the_watcher_goes_on(watched):
    setup, inbox, _clock, events, watcher, _ = watched
    root = offload(inbox, "I", files=1, marker=True)
    (root / "virus.pdf").write_bytes(b"%PDF-1.4\n" + b"fake-scanner marker: infected")
    offload(inbox, "J", files=1, marker=True)
    assert watcher().poll() == [1, 0]
    assert (inbox / "done" / "I").is_dir() and (inbox / "done" / "J").is_dir()
    first = [e for e in events if e["event"] == "batch-done"][0]
    assert first["folder"] == "I" and first["counts"]["quarantined"] == 1


def test_a_folder_refused_as_a_whole_waits_until_it_changes(watched):
    setup, inbox, clock, events, watcher, _ = watched
    root = offload(inbox, "K", files=1, marker=True)
    (root / "manifest.json").write_text("{\"files\": [", encoding="utf-8")  # cut off
    w = watcher()
    assert w.poll() == [2]
    clock.advance(3600)
    assert w.poll() == [] and _items(setup) == 0
    assert (inbox / "K").is_dir()
    write_manifest(root / "manifest.json", [dict(ROW, file="scan-0.pdf")])  # fixed
    assert w.poll() == []  # a change just seen: looked at again before it is taken
    assert w.poll() == [0] and _items(setup) == 1
    assert _kinds(events, "K")[:4] == ["seen", "ingesting", "refused", "waiting"]


# --- stopping -------------------------------------------------------------------------------
def test_a_stop_lets_the_batch_in_progress_finish_and_starts_no_other(watched, monkeypatch):
    setup, inbox, _clock, events, watcher, _ = watched
    root = offload(inbox, "L1", files=1, marker=True)
    (root / "virus.pdf").write_bytes(b"%PDF-1.4\n" + b"fake-scanner marker: infected")
    offload(inbox, "L2", files=1, marker=True)
    real = watch_mod.ingest_offload

    def signalled(*a, **kw):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the batch runs
        return real(*a, **kw)

    monkeypatch.setattr(watch_mod, "ingest_offload", signalled)
    w = watcher()
    with watch_mod._stopped_by_signals(w):
        assert w.run() == 0  # stopped as asked: not a failure, whatever its batches found
    assert [e["exit_code"] for e in events if e["event"] == "batch-done"] == [1]
    assert (inbox / "done" / "L1").is_dir() and (inbox / "L2").is_dir()
    kinds = [e["event"] for e in events]
    assert kinds.index("stopping") < kinds.index("batch-done") < kinds.index("stopped")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM))


# --- the command ----------------------------------------------------------------------------
def _config(path: Path, socket: str) -> Path:
    path.write_text(f'[scanner]\nsocket = "{socket}"\n'
                    f'[watch]\nstate = "{path.parent / "watch.sqlite"}"\n')
    return path


@pytest.fixture
def cfg(env, clamd_scanner):  # noqa: F811
    path = _config(env / "custody.toml", clamd_scanner.socket_path)
    run("--config", str(path), "init")
    return path


def test_once_exit_codes(cfg, env):  # noqa: F811
    c = ["--config", str(cfg)]
    inbox = env / "inbox"
    inbox.mkdir()
    assert run(*c, "watch", str(inbox), "--once").exit_code == 0  # nothing ready
    offload(inbox, "M", files=1, marker=True)
    lines = [json.loads(x) for x in
             run(*c, "watch", str(inbox), "--once", "--json").stdout.splitlines()]
    assert [x["event"] for x in lines] == ["started", "seen", "ingesting", "batch-done",
                                           "moved", "stopped"]
    root = offload(inbox, "N", files=1)
    (root / "eicar.com").write_bytes(EICAR)
    result = run(*c, "watch", str(inbox), "--once", "--settle", "0", code=1)
    assert "batch-done N: batch" in result.stderr and "1 quarantined" in result.stderr
    assert [b["root"].rsplit("/", 1)[1] for b in run_json(*c, "batch", "list")["batches"]] \
        == ["M", "N"]
    # clamd unreachable: exit 3, the folder stays for the next look
    down = _config(env / "down.toml", "/nonexistent/clamd.sock")
    offload(inbox, "O", files=1, marker=True)
    result = run("--config", str(down), "watch", str(inbox), "--once", code=3)
    assert "retry O" in result.stderr and (inbox / "O").is_dir()


def test_sigterm_stops_the_service_cleanly(cfg, env):  # noqa: F811
    """In its own process: started, SIGTERM, the batch in progress finished, exit 0."""
    inbox = env / "inbox"
    inbox.mkdir()
    gate = env / "gate"
    gate.mkdir()
    offload(inbox, "P", files=1, marker=True)
    offload(inbox, "Q", files=1, marker=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.watch_worker", str(gate), "--config", str(cfg),
         "watch", str(inbox), "--poll", "1"],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 60
        while not (gate / "in-batch").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the watcher never began a batch"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        (gate / "release").touch()
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    lines = [x.split(":")[0] + ":" + x.split(":")[1] for x in err.splitlines()]
    assert lines.index("custody watch: stopping") < lines.index("custody watch: batch-done P") \
        < lines.index("custody watch: stopped"), err
    assert (inbox / "done" / "P").is_dir() and (inbox / "Q").is_dir()


@pytest.mark.parametrize("folder, extra", [
    ("fifo", []), ("/dev/zero", []), ("missing", []),
    ("inbox", ["--done", "fifo"]), ("inbox", ["--done", "/dev/zero"]),
    ("inbox", ["--done", "file"]), ("inbox", ["--station", "two words"]),
    ("inbox", ["--settle", "-1"]), ("inbox", ["--poll", "0"]),
])
def test_bad_input_is_refused_before_anything_is_watched(cfg, env, folder, extra):  # noqa: F811
    """(test_bad_input.py leaves a service that runs until stopped to this test.)"""
    names = {"fifo": env / "fifo", "missing": env / "none" / "x", "file": env / "file",
             "inbox": env / "inbox"}
    os.mkfifo(names["fifo"])
    names["file"].write_text("x")
    names["inbox"].mkdir()
    offload(names["inbox"], "R", files=1, marker=True)
    args = [str(names.get(a, a)) for a in [folder, *extra]]
    result = run("--config", str(cfg), "watch", *args, "--once", code=2)
    assert "Traceback" not in result.output and result.output.strip()
    assert (names["inbox"] / "R").is_dir()  # nothing taken


@pytest.mark.parametrize("text, key", [
    ("settle_s = -1", "watch.settle_s"), ("poll_s = 0", "watch.poll_s"),
    ("retry_s = 0", "watch.retry_s"), ("retry_s = 60\nretry_max_s = 30", "watch.retry_s"),
    ('marker = ""\nrequire_marker = true', "watch.require_marker"),
    ('marker = "/x"', "watch.marker"), ('manifests = ["a/b.csv"]', "watch.manifests"),
    ("settle = 5", "watch.settle"),
])
def test_the_watch_settings_are_checked(tmp_path, text, key):
    from archive.domain.errors import ConfigError
    from config import settings

    path = tmp_path / "custody.toml"
    path.write_text(f"[watch]\n{text}\n")
    with pytest.raises(ConfigError) as caught:
        settings.load(path, home=tmp_path)
    assert caught.value.key == key
