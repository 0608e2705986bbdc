"""Background jobs: one mechanism for the command line and the web console.

A job is a row in working state (``<home>/working.db``, never the catalog): what to do
(``kind`` and ``params``), for what (``scope``: a request id, a year), who started it, its
status, its progress and its result. It runs in a separate runner process (``custody jobs run
JOB``, started detached by :func:`spawn`), never inside a web request a server timeout would
kill; the runner calls the kind's registered function with the same services the command
line uses.

One job of a kind per scope at a time: submitting again while one is queued or running gives
back that job to the person who started it, and refuses anyone else (naming who runs it).
A runner that died (its process gone, or no heartbeat for ``STALE_S``) leaves its job shown
as ``interrupted``, never silently lost: it can be resumed (run again from the start by a new
runner; the kinds are written so that a second run is safe) or left.

Cancelling is asked, not forced: a queued job is cancelled at once; a running one stops at
its next progress report while its kind says that is safe (an export before its package is
signed and registered), and is otherwise left to finish.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from archive.domain.errors import CustodyError, InputError, NotFound
from archive.domain.ids import uuid7
from archive.domain.model import iso, parse_iso
from i18n import N_, Text
from working.db import WorkingState

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
# what each state is called where a person reads it (both faces): message ids of their own
# ("done" alone is the register's 已办理)
STATUS_NAMES = {"queued": N_("job queued"), "running": N_("job running"),
                "done": N_("job finished"), "failed": N_("job failed"),
                "cancelled": N_("job cancelled"), "interrupted": N_("job interrupted")}
ACTIVE = ("queued", "running")
HEARTBEAT_S = 5.0   # how often a runner says it is alive
STALE_S = 60.0      # no heartbeat for this long: the runner is taken for dead
START_S = 60.0      # a queued job no runner took within this long was never started
NOTE_EVERY_S = 0.5  # progress is written at most this often (a 2 GiB copy reports per chunk)

_DDL = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    params TEXT NOT NULL,
    started_by TEXT NOT NULL,
    via TEXT NOT NULL,
    status TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    unit TEXT NOT NULL DEFAULT 'items',
    note TEXT NOT NULL DEFAULT '',
    result TEXT,
    error TEXT,
    pid INTEGER,
    host TEXT,
    heartbeat TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    started TEXT,
    ended TEXT
);
-- one job of a kind per scope at a time: the database, not a read-then-write, decides
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active ON jobs(kind, scope)
    WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_by_person ON jobs(started_by, created);
"""


class JobCancelled(Exception):
    """Raised inside a job at a progress report after a cancel was asked (where safe)."""


class JobRefused(CustodyError):
    """A job action the rules do not allow (another person's job, a second job for a scope)."""

    exit_code = 2
    code = "job-refused"


@dataclass(frozen=True)
class Kind:
    """What a kind of job does: ``run(archive, actor, job, progress, services) -> result``
    (a JSON object; ``services``: what the runner's face wired, e.g. the settings), the scope
    its params name, and whether a cancel may stop it midway."""

    name: str
    run: Callable[..., dict]
    scope: Callable[[dict], str]
    cancel_safe: bool = True
    unit: str = "items"
    # what a person calls it (a message id), and the roles that may follow a job of this
    # kind besides the person who started it (an archivist's colleague, a transfer's
    # receiver); an export is its requester's alone
    title: str = ""
    viewers: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> Kind:
    if name not in KINDS:
        raise InputError(N_("no job kind {kind!r}; known: {known}"), kind=name,
                         known=", ".join(sorted(KINDS)) or "-")
    return KINDS[name]


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- the store of job records ---------------------------------------------------------------
class Jobs:
    """The job records of one data home."""

    def __init__(self, state: WorkingState) -> None:
        self.state = state

    @classmethod
    def of_home(cls, home: Path) -> Jobs:
        return cls(WorkingState.of_home(home))

    def _db(self) -> sqlite3.Connection:
        return self.state.ensure("jobs", _DDL)

    # reading -------------------------------------------------------------------------------
    def get(self, job_id: str) -> dict:
        """The job as it is now; a running job whose runner died is marked interrupted here."""
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(N_("no job {job!r}"), subject=job_id, job=job_id)
        return self._settle(_as_dict(row))

    def list(self, *, kind: str | None = None, started_by: str | None = None,
             scope: str | None = None, limit: int = 50) -> list[dict]:
        """Newest first."""
        where, args = [], []
        for col, val in (("kind", kind), ("started_by", started_by), ("scope", scope)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self._db().execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [self._settle(_as_dict(r)) for r in rows.fetchall()]

    def active(self, kind: str, scope: str) -> dict | None:
        """The queued or running job of this kind and scope whose runner is alive."""
        row = self._db().execute(
            "SELECT * FROM jobs WHERE kind = ? AND scope = ? AND status IN ('queued', "
            "'running')", (kind, scope)).fetchone()
        if row is None:
            return None
        job = self._settle(_as_dict(row))
        return job if job["status"] in ACTIVE else None

    def _settle(self, job: dict) -> dict:
        """Mark a job interrupted when its runner is gone: a running job whose process ended
        or stopped beating, or a queued one nobody took up."""
        why = _dead(job)
        if why is None:
            return job
        cur = self._db().execute(
            "UPDATE jobs SET status = 'interrupted', note = ?, ended = ? WHERE id = ? AND "
            "status = ? AND COALESCE(heartbeat, '') = ?",
            (why, iso(_now()), job["id"], job["status"], job["heartbeat"] or ""))
        if cur.rowcount:
            return job | {"status": "interrupted", "note": why, "ended": iso(_now())}
        return self.get(job["id"])  # changed meanwhile (it beat, or finished): read it again

    # writing -------------------------------------------------------------------------------
    def submit(self, kind: str, params: dict, started_by: str, via: str) -> tuple[dict, bool]:
        """A new queued job, or the one of this kind and scope already queued or running
        when the same person started it: (job, created). Another person's is refused."""
        k = kind_of(kind)
        scope = k.scope(params)
        db = self._db()
        for _ in range(3):
            existing = self.active(kind, scope)
            if existing is not None:
                if existing["started_by"] != started_by:
                    raise JobRefused(N_("a {kind} job for {scope} is already {status}, started "
                                        "by {person}: one at a time"), subject=existing["id"],
                                     kind=kind, scope=scope, status=existing["status"],
                                     person=existing["started_by"])
                return existing, False
            job_id = uuid7()
            try:
                db.execute("INSERT INTO jobs (id, kind, scope, params, started_by, via, status, "
                           "unit, created) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                           (job_id, kind, scope, json.dumps(params, ensure_ascii=False),
                            started_by, via, k.unit, iso(_now())))
            except sqlite3.IntegrityError:
                continue  # another submit won the race between our read and our write
            return self.get(job_id), True
        raise JobRefused(N_("a {kind} job for {scope} is being started by someone else; try "
                            "again"), kind=kind, scope=scope)

    def claim(self, job_id: str) -> dict | None:
        """Take a queued job for this process to run; None when it is not queued (another
        runner has it, it was cancelled or it is done)."""
        now = iso(_now())
        cur = self._db().execute(
            "UPDATE jobs SET status = 'running', pid = ?, host = ?, heartbeat = ?, started = ?, "
            "runs = runs + 1, done = 0, total = NULL, note = '', error = NULL, result = NULL "
            "WHERE id = ? AND status = 'queued'",
            (os.getpid(), socket.gethostname(), now, now, job_id))
        return self.get(job_id) if cur.rowcount else None

    def beat(self, job_id: str) -> bool:
        """The runner is alive; True when a cancel was asked."""
        db = self._db()
        db.execute("UPDATE jobs SET heartbeat = ? WHERE id = ? AND status = 'running' "
                   "AND pid = ?", (iso(_now()), job_id, os.getpid()))
        row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def report(self, job_id: str, done: int, total: int | None, note: str) -> None:
        self._db().execute("UPDATE jobs SET done = ?, total = ?, note = ?, heartbeat = ? "
                           "WHERE id = ? AND status = 'running' AND pid = ?",
                           (done, total, note, iso(_now()), job_id, os.getpid()))

    def end(self, job_id: str, status: str, *, result: dict | None = None,
            error: dict | None = None, note: str = "") -> dict:
        self._db().execute(
            "UPDATE jobs SET status = ?, result = ?, error = ?, note = ?, ended = ? "
            "WHERE id = ? AND status = 'running' AND pid = ?",
            (status, json.dumps(result, ensure_ascii=False, default=str) if result else None,
             json.dumps(error, ensure_ascii=False) if error else None, note, iso(_now()),
             job_id, os.getpid()))
        return self.get(job_id)

    def cancel(self, job_id: str, person: str) -> dict:
        """Ask a job to stop: a queued one is cancelled now, a running one at its next safe
        progress report; a finished one is left as it is (refused)."""
        job = self._own(job_id, person, "cancel")
        db = self._db()
        if job["status"] in ("queued", "interrupted"):
            db.execute("UPDATE jobs SET status = 'cancelled', ended = ?, note = ? WHERE id = ? "
                       "AND status = ?", (iso(_now()), N_("cancelled"), job_id,
                                          job["status"]))
        elif job["status"] == "running":
            if not kind_of(job["kind"]).cancel_safe:
                raise JobRefused(N_("job {job} ({kind}) cannot be stopped safely once it runs; "
                                    "it is left to finish"), subject=job_id, job=job_id,
                                 kind=job["kind"])
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        else:
            raise JobRefused(N_("job {job} is {status}; there is nothing to cancel"),
                             subject=job_id, job=job_id, status=job["status"])
        return self.get(job_id)

    def resume(self, job_id: str, person: str) -> dict:
        """Queue an interrupted job again (a new runner starts it from the beginning)."""
        job = self._own(job_id, person, "resume")
        if job["status"] != "interrupted":
            raise JobRefused(N_("job {job} is {status}; only an interrupted job can be resumed"),
                             subject=job_id, job=job_id, status=job["status"])
        try:
            cur = self._db().execute(
                # its queued time starts now, or it would be taken at once for never started
                "UPDATE jobs SET status = 'queued', pid = NULL, heartbeat = ?, ended = NULL, "
                "cancel_requested = 0, started = NULL, note = ? "
                "WHERE id = ? AND status = 'interrupted'", (iso(_now()), N_("resumed"), job_id))
        except sqlite3.IntegrityError:
            other = self.active(job["kind"], job["scope"])
            raise JobRefused(N_("another {kind} job for {scope} is running ({other}); job {job} "
                                "is left interrupted"), subject=job_id, kind=job["kind"],
                             scope=job["scope"], other=other["id"] if other else "-",
                             job=job_id) from None
        if not cur.rowcount:
            raise JobRefused(N_("job {job} changed while it was being resumed; look again"),
                             subject=job_id, job=job_id)
        return self.get(job_id)

    def _own(self, job_id: str, person: str, what: str) -> dict:
        job = self.get(job_id)
        if job["started_by"] != person:
            raise JobRefused(N_("job {job} was started by {owner}; {person} may not {action} "
                                "it"), subject=job_id, job=job_id, owner=job["started_by"],
                             person=person, action=what)
        return job


def _as_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    d["result"] = json.loads(d["result"]) if d["result"] else None
    d["error"] = json.loads(d["error"]) if d["error"] else None
    d["cancel_requested"] = bool(d["cancel_requested"])
    return d


def _dead(job: dict) -> str | None:
    """Why this active job's runner is taken for gone (None: it is not)."""
    now = _now()
    if job["status"] == "queued":
        since = parse_iso(job["heartbeat"] or job["created"])
        if since is not None and now - since > timedelta(seconds=START_S):
            return N_("no runner took it up")
        return None
    if job["status"] != "running":
        return None
    if job["host"] == socket.gethostname() and job["pid"] and not pid_runs(job["pid"],
                                                                           job["id"]):
        return N_("its runner ended without finishing it")
    beat = parse_iso(job["heartbeat"])
    if beat is None or now - beat > timedelta(seconds=STALE_S):
        return N_("its runner stopped reporting")
    return None


def pid_runs(pid: int, job_id: str) -> bool:
    """The process lives, is not a zombie, and is the runner of this job (a recycled pid is
    somebody else). This very process runs it when it is ours."""
    if pid == os.getpid():
        return True
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        state = stat.rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and job_id.encode() in cmdline


def error_text(job: dict) -> Text | None:
    """Why a job failed, as a message in the reader's language (its English template kept)."""
    err = job.get("error")
    if not err:
        return None
    params = {k: Text(v["template"], **v["params"]) if isinstance(v, dict) else v
              for k, v in (err.get("params") or {}).items()}
    return Text(err.get("template") or err.get("message", ""), **params)


def _error_doc(exc: BaseException) -> dict:
    """A failure as stored: code, English message, and its template and values (a nested
    message kept as one) so that a face can show it in its reader's language."""
    if isinstance(exc, CustodyError):
        def keep(v: object) -> object:
            if isinstance(v, Text):
                return {"template": v.template, "params": {k: keep(x) for k, x in
                                                           v.params.items()}}
            return v if isinstance(v, (int, float, bool)) or v is None else str(v)

        return {"code": exc.code, "message": exc.message, "template": exc.text.template,
                "params": {k: keep(v) for k, v in exc.text.params.items()}}
    text = Text("unexpected error ({kind}: {detail}); this is a fault in custody",
                kind=type(exc).__name__, detail=str(exc))
    return {"code": "unexpected", "message": str(text), "template": text.template,
            "params": dict(text.params)}


# --- running ---------------------------------------------------------------------------------
class Progress:
    """What a job function reports through: ``progress(n)`` advances, ``progress.total(n)``
    sets the amount, ``progress.note(text)`` says what it does; each may raise JobCancelled
    after a cancel was asked, while ``safe`` is True."""

    def __init__(self, jobs: Jobs, job_id: str) -> None:
        self.jobs, self.job_id = jobs, job_id
        self.done, self.amount, self.text = 0, None, ""
        self.safe = True
        self.cancel_asked = threading.Event()
        self._written = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        self._write()

    def total(self, n: int) -> None:
        self.amount = n
        self._write(force=True)

    def note(self, text: str) -> None:
        self.text = text
        self._write(force=True)

    def _write(self, force: bool = False) -> None:
        import time

        if self.safe and self.cancel_asked.is_set():
            raise JobCancelled()
        now = time.monotonic()
        if force or now - self._written >= NOTE_EVERY_S:
            self._written = now
            self.jobs.report(self.job_id, self.done, self.amount, self.text)


def run(jobs: Jobs, job_id: str, open_archive: Callable[[], Any],
        actor_for: Callable[[Any, dict], Any], services: dict | None = None) -> dict:
    """Run one queued job in this process (the runner): claim it, beat while it works, call
    its kind, record how it ended. ``open_archive`` opens the archive; ``actor_for(archive,
    job)`` is the person acting, as the face that started it proves them; ``services`` is
    handed to the kind. Returns the job."""
    job = jobs.claim(job_id)
    if job is None:
        current = jobs.get(job_id)
        raise JobRefused(N_("job {job} is {status}, not queued; nothing to run"),
                         subject=job_id, job=job_id, status=current["status"])
    k = kind_of(job["kind"])
    progress = Progress(jobs, job_id)
    stop = threading.Event()
    beater_jobs = Jobs(jobs.state)

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                if beater_jobs.beat(job_id):
                    progress.cancel_asked.set()
            except sqlite3.Error:
                pass  # a busy database for a moment; the next beat is in a few seconds
        beater_jobs.state.close()

    beater = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    beater.start()
    archive = None
    try:
        archive = open_archive()
        actor = actor_for(archive, job)
        result = k.run(archive, actor, job, progress, services or {})
        status, err, note = "done", None, ""
    except JobCancelled:
        status, result, err, note = "cancelled", None, None, N_("cancelled")
    except Exception as exc:  # noqa: BLE001 - every end of a job is recorded on it
        status, result, err, note = "failed", None, _error_doc(exc), ""
    finally:
        stop.set()
        beater.join(timeout=HEARTBEAT_S + 1)
        jobs.report(job_id, progress.done, progress.amount, progress.text)  # the last count
        if archive is not None and hasattr(archive, "finish_command"):
            try:
                archive.finish_command()  # the ledger checkpoint, as a command ends
            finally:
                archive.catalog.close()
    return jobs.end(job_id, status, result=result, error=err, note=note)


# --- starting a runner -----------------------------------------------------------------------
def runner_argv(job_id: str, home: Path, config_files: tuple[str, ...] = ()) -> list[str]:
    """The command that runs one job: this Python, custody's command line, the same home and
    policy file as the face that submitted it."""
    argv = [sys.executable, "-m", "cli", "--home", str(home)]
    if len(config_files) > 1:  # the first is always the built-in default policy
        argv += ["--config", config_files[-1]]
    return argv + ["jobs", "run", job_id]


def spawn(argv: list[str], log: Path) -> subprocess.Popen:
    """Start a runner detached from the caller (its own session: a web worker that ends, or
    a terminal closed, does not take it along). Its output goes to ``log``; the caller is
    not kept waiting, and a thread reaps it when it ends so no zombie is left."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True,
                                cwd=str(Path(__file__).resolve().parent.parent))
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def job_dir(home: Path, job_id: str) -> Path:
    """Where a job keeps what it makes (an export's package) in working state."""
    return Path(home) / "jobs" / job_id
