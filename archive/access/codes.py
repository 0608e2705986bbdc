"""Finding an item by its 档号 (archive code), as people quote it."""

from __future__ import annotations

from archive.domain.errors import NotFound
from archive.service import Archive
from i18n import N_


def item_by_code(archive: Archive, code: str) -> str:
    """The id of the item whose 档号 is ``code`` (a destroyed item keeps its code)."""
    wanted = code.strip()
    doc = archive.catalog.get_record("archive_codes", wanted)  # the record's id is its code
    if doc is not None:
        return doc["item"]
    raise NotFound(N_("no item has the archive code {code}"), subject=wanted, code=wanted)
