"""The transfer-preparation and disc-building jobs (issue 16).

``transfer`` (scope ``transfer:<year>``) is the long part of a preparation: every item of the
year re-read and checked, the package written under the job's own folder
(``job_dir(home, job)/transfer``) and its manifest signed by the archive. It files nothing:
the result is a *draft* (``retention.transfer.draft``) that the archivist who started it then
signs as prepared with their passkey in the page (a job never writes a decision). A draft
cancelled, interrupted or never signed is only files in working state; a second run of the
same job removes the first run's folder first.

``disc-build`` (scope ``discs``: one build at a time, whatever year it is for, since two
would put the same item on two discs) is ``custody disc build`` as it is (a disc built is not
a decision): images under ``<home>/work/discs``. It is not
stopped midway (``cancel_safe=False``): each disc claims its number in the store and issues its
盘内说明 while it is written. Run again after an interruption it builds only what is on no
disc yet (a claimed number of the interrupted disc stays unused).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from i18n import N_
from working.jobs import Jobs, Kind, Progress, job_dir, register

TRANSFER = "transfer"
DISC_BUILD = "disc-build"
CAPACITIES = ("25G", "50G", "100G")


def transfer_scope(params: dict) -> str:
    return f"transfer:{int(params['year'])}"


def disc_scope(params: dict) -> str:
    """Every build shares one scope: a build for a year and one for every year would both
    take the items of that year."""
    return "discs"


def transfer_dir(home: Path, job_id: str) -> Path:
    """Where a transfer job writes its package (working state, beside the job)."""
    return job_dir(home, job_id) / "transfer"


def discs_dir(home: Path) -> Path:
    """Where the console's disc builds put their images (numbered by disc, never reused)."""
    return Path(home) / "work" / "discs"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _run_transfer(archive: Any, actor: Any, job: dict, progress: Progress,
                  services: dict) -> dict:
    import bootstrap
    from retention import transfer as tr

    p = job["params"]
    out = transfer_dir(Path(p["home"]), job["id"])
    if out.exists():
        shutil.rmtree(out)  # an earlier run of this very job that did not end
    out.mkdir(parents=True)
    progress.note(N_("re-reading every item of the year from the store"))
    made = tr.draft(archive, actor, bootstrap.cycle_policy(services["settings"]), int(p["year"]),
                    out, _now(), None if p.get("no_media") else bootstrap.media_probe(),
                    progress, progress.total)
    return {k: v for k, v in made.items() if k != "listing"}


def _run_disc_build(archive: Any, actor: Any, job: dict, progress: Progress,
                    services: dict) -> dict:
    import bootstrap
    from documents import issue
    from retention import discs

    p = job["params"]
    settings = services["settings"]
    policy = bootstrap.cycle_policy(settings)
    year = int(p["year"]) if p.get("year") else None
    progress.total(sum(i.current.digests.size
                       for i in discs.candidates(archive, policy, "permanent", year)))
    progress.note(N_("writing the disc images"))

    def inside_pdf(disc_id: str, label: dict, rows: list[dict]) -> bytes:
        return issue.issue(archive, actor, settings, "disc-readme", disc_id,
                           keys_dir=services["keys_dir"],
                           params={"label": label, "rows": rows})["pdf"]

    out = discs.build(archive, actor, policy, "permanent", year,
                      discs.parse_capacity(p["capacity"]), discs_dir(Path(p["home"])), _now(),
                      progress=progress, inside_pdf=inside_pdf)
    return {"discs": [d["id"] for d in out["discs"]], "refused": out["refused"],
            "candidates": out["candidates"]}


TRANSFER_KIND = register(Kind(TRANSFER, run=_run_transfer, scope=transfer_scope,
                              cancel_safe=True, title=N_("Transfer preparation"),
                              viewers=("archivist",)))
DISC_KIND = register(Kind(DISC_BUILD, run=_run_disc_build, scope=disc_scope,
                          cancel_safe=False, unit="bytes", title=N_("Disc build"),
                          viewers=("archivist",)))


def submit_transfer(jobs: Jobs, home: Path, person_id: str, year: int, *,
                    no_media: bool = False, via: str = "console",
                    sign_in: dict | None = None) -> tuple[dict, bool]:
    """Queue the preparation of year N's transfer for ``person_id``: (job, created). The
    rules are the transfer service's, when the runner calls it."""
    params: dict = {"year": int(year), "no_media": bool(no_media), "home": str(home)}
    if sign_in is not None:
        params["sign_in"] = sign_in
    return jobs.submit(TRANSFER, params, person_id, via)


def submit_disc_build(jobs: Jobs, home: Path, person_id: str, year: int | None,
                      capacity: str, *, via: str = "console",
                      sign_in: dict | None = None) -> tuple[dict, bool]:
    """Queue a disc build (permanent records, of year N or of every year): (job, created).
    The capacity is read here, so that a wrong one is refused before anything runs."""
    from retention import discs

    discs.parse_capacity(capacity)
    params: dict = {"year": int(year) if year else None, "capacity": capacity,
                    "home": str(home)}
    if sign_in is not None:
        params["sign_in"] = sign_in
    return jobs.submit(DISC_BUILD, params, person_id, via)


def drafts(jobs: Jobs, year: int) -> list[dict]:
    """The finished transfer jobs of year N, newest first (each result is a draft)."""
    return [j for j in jobs.list(kind=TRANSFER, scope=f"transfer:{int(year)}", limit=20)
            if j["status"] == "done" and j["result"]]
