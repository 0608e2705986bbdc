"""Registers printed on paper: the access register (调阅登记) as an official document — an A4
PDF rendered from a signed record, signed and kept in the WORM store (documents/)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from archive.domain.model import iso
from archive.ledger.chain import Actor
from archive.service import Archive
from config.settings import Settings
from documents import issue


def register_document(archive: Archive, actor: Actor, settings: Settings,
                      start: datetime | None, end: datetime | None, *, keys_dir: Path) -> dict:
    """A new 调阅登记 of the access events from ``start`` up to ``end`` (at the latest now):
    issued, signed and kept; ``custody print access-register ID`` gives it again."""
    return issue.issue(archive, actor, settings, "access-register", keys_dir=keys_dir,
                       params={"from": iso(start) if start else None,
                               "to": iso(end) if end else None})
