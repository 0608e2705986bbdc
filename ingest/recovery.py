"""`custody reconcile` as the intake station runs it: the archive's reconcile (objects,
metadata versions, ledger entries, unfinished uploads) and the scratch folders that killed
ingest runs left in the temporary directory."""

from __future__ import annotations

from archive.copies.reconcile import reconcile as reconcile_archive
from archive.ledger.chain import Actor
from archive.service import Archive
from ingest import scratch


def reconcile(archive: Archive, actor: Actor, discard_pending: bool = False,
              scratch_dir: str | None = None) -> dict:
    """What an interrupted run left, taken up; ``scratch_removed`` names the scratch folders
    of dead ingest processes that were removed (never those of a live one)."""
    report = reconcile_archive(archive, actor, discard_pending)
    report["scratch_removed"] = scratch.remove_dead(scratch_dir)
    return report
