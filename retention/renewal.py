"""Renewing the locks of what is kept for ever but is not an item.

Everything in the WORM store outside ``objects/`` is a record kept for ever: the archive's
public keys, the ledger's checkpoints, the catalog journal's segments, batch reports,
inspections, destruction registers, transfers, migration reports, disc claims (and whatever a
later feature stores there: it is covered without being named here). Each is locked the lock
horizon ahead (``[ledger] checkpoint_retention_years``, by default ``[retention]
permanent_lock_years``), not to the end of time: some servers cannot hold a date past 2106
(Ceph RGW keeps 32-bit seconds). So ``retention run`` renews them, as it renews a permanent
item: a lock that ends within ``renew_within_years`` is extended to the horizon from now,
read back, and recorded in the ledger. Content objects and their signed metadata versions
(``objects/...``) follow their items' rules in the engine and are left alone here.

Reading every lock on every run would cost one request per record for decades in which
nothing is due; a note in the catalog (``meta/lock-renewal``) keeps when the next renewal can
first be due, and a run before then reads nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from archive.domain.errors import CustodyError, LockNotConfirmed
from archive.domain.model import iso, parse_iso
from archive.ledger.chain import Actor
from archive.service import Archive
from config.settings import MIN_HORIZON_YEARS
from i18n import N_
from retention.rules import add_years
from scanners.problems import problem

CONTENT_PREFIX = "objects/"  # content and metadata versions: the items' own rules lock them
NOTE = ("meta", "lock-renewal")
ACTION = "lock renewal"


def _window(within_years: int) -> timedelta:
    return timedelta(days=365 * within_years)  # as the engine's renewal of permanent items


def record_keys(archive: Archive):
    """(key, version id) of every version of every record kept for ever."""
    for key, version_id, _size in archive.store.list_keys():
        if not key.startswith(CONTENT_PREFIX):
            yield key, version_id


def renew_records(archive: Archive, actor: Actor, now: datetime, within_years: int,
                  years: int | None = None) -> tuple[list[dict], list[dict]]:
    """Renew every record whose lock ends within ``within_years`` of ``now`` to ``years``
    (the archive's lock horizon) from ``now``. Returns (renewed, problems): each renewal with
    its key, version and dates (also in the ledger, signed by ``actor``); each record that
    could not be renewed with the reason (the server's refusal names what to configure)."""
    years = archive.checkpoint_years if years is None else years
    window = _window(within_years)
    note = archive.catalog.get_record(*NOTE) or {}
    if note.get("next_due") and now < parse_iso(note["next_due"]):
        return [], []
    renewed: list[dict] = []
    problems: list[dict] = []
    earliest: datetime | None = None
    target = add_years(now, years)
    for key, version_id in record_keys(archive):
        try:
            lock = archive.store.lock(key, version_id)
            until = lock.retain_until
            if until is None or until - now < window:
                lock = archive.store.extend_retention(key, version_id, target)
                if lock.retain_until is None or lock.retain_until < target:
                    raise LockNotConfirmed(N_("{key}@{version}: the store did not confirm "
                                              "retention until {until}"), subject=key,
                                           key=key, version=version_id, until=iso(target))
                change = {"key": key, "version_id": version_id, "before": iso(until),
                          "after": iso(lock.retain_until), "years": years}
                archive.ledger.append(actor, ACTION, key, change)
                renewed.append(change)
                until = lock.retain_until
        except CustodyError as exc:
            problems.append(problem("not-renewed", exc.text, item=None, key=key,
                                    version_id=version_id))
            continue
        if until is not None and (earliest is None or until < earliest):
            earliest = until
    # Records written after this run are locked at least MIN_HORIZON_YEARS ahead (whatever a
    # station's configuration; settings refuse less), so none of them is due before that
    # much from now less the window; a problem leaves no note, so the next run tries again.
    if not problems:
        due = add_years(now, MIN_HORIZON_YEARS) - window
        if earliest is not None:
            due = min(due, earliest - window)
        archive.catalog.put_record(*NOTE, {"id": NOTE[1], "checked_at": iso(now),
                                           "next_due": iso(due), "horizon_years": years})
    return renewed, problems
