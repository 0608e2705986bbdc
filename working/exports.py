"""Copy-only export as a background job: the package ``custody access export`` builds (the
BagIt bag of verified copies with the signed 提取说明, and the ISO image when asked), made by a
runner into the job's own folder in working state, then fetched — by the person who started
it only — for ``[web] download_hours`` after it was made.

One use of the approval is one signed package (the export service counts and refuses), with,
when asked, the signed PDF 提取说明 issued as ``custody export --pdf`` issues it; the
package kept here may be fetched as often as wanted within the window without counting again.
After the window it is removed; asked again within the export service's re-delivery time, the
same signed package is rebuilt from the store (``export``'s re-delivery), not counted.

A job that was interrupted is run again from the start: the half-written folder of the
earlier run (never handed out: the job had not ended) is removed first. An export killed
while it wrote stays counted, as the export service counts it (its copies may be out).
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from archive.domain.errors import InputError, NotFound
from archive.domain.model import iso, parse_iso
from i18n import N_
from working.jobs import JobRefused, Jobs, Kind, Progress, job_dir, register

KIND = "export"
PACKAGE = "package"
DEFAULT_DOWNLOAD_HOURS = 24


def _scope(params: dict) -> str:
    return params["request"]


def bag_path(home: Path, job_id: str) -> Path:
    return job_dir(home, job_id) / PACKAGE / f"custody-export-{job_id[-12:]}"


def statement_path(home: Path, job_id: str) -> Path:
    return job_dir(home, job_id) / PACKAGE / "提取说明.pdf"


def _run(archive: Any, actor: Any, job: dict, progress: Progress, services: dict) -> dict:
    from archive.access.export import export

    p = job["params"]
    dest = bag_path(Path(p["home"]), job["id"])
    if dest.parent.exists():
        shutil.rmtree(dest.parent)  # an earlier run of this very job that did not end
    dest.parent.mkdir(parents=True)
    progress.note(N_("copying from the store"))
    doc = export(archive, actor, p["request"], dest, fonds=p.get("fonds", ""),
                 iso_image=bool(p.get("iso")), new=bool(p.get("new")), progress=progress,
                 total=progress.total)
    progress.safe = False  # the package is signed and registered: it stands
    out = {"export": doc["id"], "request": doc["request"], "items": len(doc["items"]),
           "bytes": sum(int(e["size"]) for e in doc["items"]), "bag": doc["to"],
           "iso": doc.get("iso"), "redelivered": doc["redelivered"], "use": doc.get("use"),
           "uses": doc["uses"], "statement": None}
    if p.get("pdf"):
        from documents import issue

        progress.note(N_("issuing the signed 提取说明"))
        made = issue.issue(archive, actor, services["settings"], "export-statement",
                           doc["id"], keys_dir=services["keys_dir"])
        path = statement_path(Path(p["home"]), job["id"])
        path.write_bytes(made["pdf"])
        out["statement"] = {"path": str(path), "number": made["number"]}
    return out


EXPORT = register(Kind(KIND, run=_run, scope=_scope, cancel_safe=True, unit="bytes",
                       title=N_("Export")))


def submit(jobs: Jobs, home: Path, catalog: Any, person_id: str, request_id: str, *,
           iso_image: bool = False, new: bool = False, pdf: bool = False, fonds: str = "",
           via: str = "cli", sign_in: dict | None = None) -> tuple[dict, bool]:
    """Queue an export of ``request_id`` for ``person_id`` (the job's checks and refusals are
    the export service's, when the runner calls it): (job, created)."""
    if catalog.get_record("requests", request_id) is None:
        raise NotFound(N_("no access request {request!r}"), subject=request_id,
                       request=request_id)
    params = {"request": request_id, "iso": bool(iso_image), "new": bool(new),
              "pdf": bool(pdf), "fonds": fonds, "home": str(home)}
    if sign_in is not None:
        params["sign_in"] = sign_in
    return jobs.submit(KIND, params, person_id, via)


def download_until(job: dict, hours: int) -> datetime | None:
    ended = parse_iso(job.get("ended"))
    return None if ended is None else ended + timedelta(hours=hours)


def package(jobs: Jobs, home: Path, job_id: str, person_id: str, hours: int,
            now: datetime | None = None) -> dict:
    """The finished package of an export job, for the person who started it and within
    ``hours`` of its making: ``{"bag", "iso", "until", "name", "export"}``; refused else."""
    now = now or datetime.now(timezone.utc)
    job = jobs.get(job_id)
    if job["kind"] != KIND:
        raise InputError(N_("job {job} is not an export"), subject=job_id, job=job_id)
    if job["started_by"] != person_id:
        raise JobRefused(N_("the package of job {job} is for {owner}, not {person}"),
                         subject=job_id, job=job_id, owner=job["started_by"], person=person_id)
    if job["status"] != "done":
        raise JobRefused(N_("job {job} is {status}; there is no package to fetch"),
                         subject=job_id, job=job_id, status=job["status"])
    until = download_until(job, hours)
    bag = bag_path(home, job_id)
    if until is None or now >= until or not bag.is_dir():
        forget(home, job_id)
        raise JobRefused(N_("the package of job {job} could be fetched until {until}; export "
                            "again (within the re-delivery time the same signed package is "
                            "made again, not counted)"), subject=job_id, job=job_id,
                         until=iso(until) or "-")
    iso_file = bag.with_name(bag.name + ".iso")
    statement = statement_path(home, job_id)
    return {"bag": bag, "iso": iso_file if iso_file.is_file() else None, "until": until,
            "name": bag.name, "export": (job["result"] or {}).get("export"),
            "statement": statement if statement.is_file() else None}


def record_download(archive: Any, actor: Any, job: dict, pkg: dict, form: str) -> None:
    """A download is recorded in the ledger (at the console: attested by the console key,
    naming the person and their sign-in); it is not another use of the approval."""
    archive.ledger.append(actor, "export-downloaded", job["scope"], {
        "export": pkg["export"], "job": job["id"], "form": form})


def forget(home: Path, job_id: str) -> None:
    """Remove a job's package (working state; the signed record stays in the catalog)."""
    folder = job_dir(home, job_id) / PACKAGE
    if folder.exists():
        shutil.rmtree(folder)


def expire(jobs: Jobs, home: Path, hours: int, now: datetime | None = None) -> list[str]:
    """Remove the packages whose window has passed, and those of jobs that did not finish
    and no longer run; the job ids whose package went."""
    now = now or datetime.now(timezone.utc)
    root = Path(home) / "jobs"
    gone = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if not (folder / PACKAGE).exists():
            continue
        try:
            job = jobs.get(folder.name)
        except NotFound:
            forget(home, folder.name)
            gone.append(folder.name)
            continue
        until = download_until(job, hours)
        if job["status"] in ("failed", "cancelled") or (
                job["status"] == "done" and (until is None or now >= until)):
            forget(home, folder.name)
            gone.append(folder.name)
    return gone


class _Sink:
    """A write-only file that hands what is written to the zip stream's reader."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def zipped(bag: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The bag folder as a ZIP archive (stored, not compressed: media do not shrink), made
    while it is sent: nothing more is written to disk. Unzipped, it is the bag
    ``custody verify-export`` checks."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(p for p in bag.rglob("*") if p.is_file()):
            arc = f"{bag.name}/{path.relative_to(bag).as_posix()}"
            size = path.stat().st_size
            info = zipfile.ZipInfo.from_file(path, arc)
            info.compress_type = zipfile.ZIP_STORED
            with path.open("rb") as src, zf.open(info, "w", force_zip64=size >= 1 << 31) as dst:
                while data := src.read(chunk):
                    dst.write(data)
                    if sink.parts:
                        yield sink.take()
    if sink.parts:
        yield sink.take()  # the central directory, written as the archive closes
