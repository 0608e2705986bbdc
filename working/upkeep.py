"""The replication and statistics-report jobs."""

from __future__ import annotations

from typing import Any

from i18n import N_
from working.jobs import Kind, register

# --- replication (brief C) ------------------------------------------------------------------
# The second copy brought up to date from the console: the same service as `custody
# replicate` (archive.copies.replica.replicate_archive: its role check, its refusals recorded,
# its resumable copy). One job at a time for the whole archive (scope "replica"): two runs
# would go through the same store. Cancel is safe: a run stopped midway leaves what it copied,
# the cursor does not advance, and the next run copies nothing twice.
REPLICATE = "replicate"


def _replicate(archive: Any, actor: Any, job: dict, progress: Any, services: dict) -> dict:
    import functools
    import json

    import bootstrap
    from archive.copies.replica import replicate_archive

    progress.note(N_("copying to the second store"))
    out = replicate_archive(archive, actor,
                            functools.partial(bootstrap.require_replica, services["settings"]),
                            progress=progress, total=progress.total,
                            full=bool(job["params"].get("full")))
    # Text values (a failure's reason) become their English text: the result is JSON
    return json.loads(json.dumps(out, default=str, ensure_ascii=False))


register(Kind(REPLICATE, run=_replicate, scope=lambda params: "replica", cancel_safe=True,
              unit="bytes", title=N_("Replication"), viewers=("archivist",)))
