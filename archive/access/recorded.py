"""What a console user does that is not a decision, written to the ledger by the console's
key naming the person and their sign-in (the ``Actor`` of ``passkeys.console_actor``)."""

from __future__ import annotations

from archive.catalog.base import Query
from archive.ledger.chain import Actor
from archive.service import Archive


def record_search(archive: Archive, actor: Actor, query: Query, found: int) -> None:
    """A search: its filters as given (times in UTC) and how many rows the page showed."""
    archive.ledger.append(actor, "console-search", actor.person_id,
                          {"query": {k: str(v) for k, v in query.given().items()},
                           "found": found})
