"""The sampled-verification job (抽样机读检验) for the console and the command line.

The job does the long part only: it draws the sample and reads every sampled item back
(``archive.verification.draft_verification``, the checks ``custody verify`` makes) and keeps
the unsigned inspection record as its result (the draft). It never files it: filing is the
inspector's decision (ledger action ``inspection``), signed afterwards with their passkey on
the result page (``archive.verification.file_verification``), since a job acts as the
console and a decision needs the person's own signature.

Decisions the issue left open:
- the random seed is chosen when the job is submitted and kept in its parameters, so a job
  resumed after an interruption draws the same sample again;
- the lot at the console is a year, a unit and filters: a year alone is ``custody verify
  --year``'s lot; with a unit or filters the year becomes ``from=``/``to=`` of the query,
  so the lot is exactly what ``custody verify --query`` selects (its full check too);
- one sampling job per lot (and copy) at a time, whoever runs it.
"""

from __future__ import annotations

import secrets
from typing import Any

from archive.domain.errors import InputError
from archive.domain.sampling import AQLS, LEVELS
from i18n import N_
from working.jobs import Jobs, Kind, Progress, register

KIND = "sampling"
VIEWERS = ("auditor", "archivist", "legal")  # who may follow another inspector's run


def lot_of(year: str | int | None, unit: str | None, query: str | None) -> dict:
    """The lot as ``custody verify`` takes it — ``{"year": N}`` or ``{"query": "..."}`` —
    from the console's year, unit and filters."""
    text = " ".join((query or "").split())
    unit = (unit or "").strip()
    if year in (None, ""):
        number = None
    else:
        try:
            number = int(str(year).strip())
        except ValueError:
            raise InputError(N_("the year must be a number like 2026")) from None
        if not 1900 <= number <= 9999:
            raise InputError(N_("the year must be a number like 2026"))
    if unit and any(p.startswith("unit=") for p in text.split()):
        raise InputError(N_("give the unit once: in the unit field or in the filters"))
    if not unit and not text:
        if number is None:
            raise InputError(N_("choose the lot: a year, a unit or filters"))
        return {"year": number}
    parts = ([f"unit={unit}"] if unit else []) + ([text] if text else [])
    if number is not None:
        if any(p.startswith(("from=", "to=")) for p in text.split()):
            raise InputError(N_("give the year or from=/to= in the filters, not both"))
        parts += [f"from={number}-01-01T00:00", f"to={number + 1}-01-01T00:00"]
    return {"query": " ".join(parts)}


def aql_of(text: str | None) -> float | None:
    """An AQL chosen on the page ("" is none: Ac = 0, or the settings' configured AQL)."""
    if text in (None, ""):
        return None
    try:
        value = float(str(text))
    except ValueError:
        value = -1.0
    if value not in AQLS:
        raise InputError(N_("AQL {aql} is not one of GB/T 2828.1's {choices}"), aql=text,
                         choices=", ".join(f"{a:g}" for a in AQLS))
    return value


def level_of(text: str | None) -> str:
    level = text or "II"
    if level not in LEVELS:
        raise InputError(N_("inspection level {level!r} is not one of I, II, III"), level=level)
    return level


def _scope(params: dict) -> str:
    lot = params["lot"]
    return (f"year={lot['year']}" if "year" in lot else f"query={lot['query']}") + (
        f" copy={params['copy']}" if params.get("copy", "primary") != "primary" else "") + (
        " all" if params.get("everything") else "")


def _run(archive: Any, actor: Any, job: dict, progress: Progress, services: dict) -> dict:
    import bootstrap
    from archive.verification import draft_verification

    p = job["params"]
    settings = services["settings"]
    progress.note(N_("reading the sampled items back from the store"))
    draft = draft_verification(
        archive, actor, settings, year=p["lot"].get("year"), query=p["lot"].get("query"),
        level=p.get("level", "II"), seed=p["seed"], aql=p.get("aql"),
        everything=bool(p.get("everything")),
        copy=p.get("copy", "primary"), media_probe=bootstrap.media_probe(),
        progress=progress, total=progress.total)
    return {"draft": draft}


SAMPLING = register(Kind(KIND, run=_run, scope=_scope, cancel_safe=True,
                         title=N_("Sampled verification"), viewers=VIEWERS))


def submit(jobs: Jobs, person_id: str, lot: dict, *, level: str = "II",
           aql: float | None = None, via: str = "console",
           sign_in: dict | None = None, everything: bool = False) -> tuple[dict, bool]:
    """Queue a sampled verification of ``lot`` for ``person_id``: (job, created); with
    ``everything``, the full check of every item of the lot that a rejected lot calls for
    (``custody verify --all``). The service checks who may run it again when the runner
    calls it."""
    params: dict = {"lot": lot, "level": level, "aql": aql, "copy": "primary",
                    "seed": secrets.randbits(63), "everything": everything}
    if sign_in is not None:
        params["sign_in"] = sign_in
    return jobs.submit(KIND, params, person_id, via)


def draft_of(job: dict) -> dict:
    """The unsigned inspection record a finished sampling job made."""
    if job["kind"] != KIND:
        raise InputError(N_("job {job} is not a sampled verification"), subject=job["id"],
                         job=job["id"])
    if job["status"] != "done" or not (job.get("result") or {}).get("draft"):
        raise InputError(N_("job {job} has not finished its checks"), subject=job["id"],
                         job=job["id"])
    return job["result"]["draft"]
