"""`custody scanner update --from DIR`: the archive's side of an offline signature update.

scanners/signature_update.py checks the files and switches the private clamd's database; this
module decides who may, refuses an external clamd, and records the update in the catalog
(collection `meta`, id `scanner-db-<UTC time>`) and in the ledger (`scanner-update`). A refused
update is recorded in the ledger too (`scanner-update-refused`): someone brought files the
scanner would not take.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from archive import people
from archive.domain.errors import InputError, ServiceUnavailable
from archive.ledger.chain import Actor
from archive.service import Archive
from config.settings import Settings
from i18n import N_
from scanners.clamd import PrivateClamd, ScannerUnavailable
from scanners.signature_update import UpdateRefused, install

UPDATE_ROLES = ("archivist", "administrator")
RECORD_PREFIX = "scanner-db-"


def refuse_external_clamd(settings: Settings) -> None:
    """Exit 2 when [scanner] names an existing clamd: its database is not ours to change."""
    sc = settings.section("scanner")
    where = sc["socket"] or (f"{sc['host']}:{sc['port']}" if sc["host"] else None)
    if where:
        raise InputError(N_("the scanner is an external clamd ({where}); 'custody scanner "
                            "update' manages only the private clamd's database: update that "
                            "clamd's signatures where it runs"), where=where)


@people.records_refusals("scanner update")
def update_signatures(archive: Archive, actor: Actor, settings: Settings, daemon: PrivateClamd,
                      source: Path, *, allow_unsigned: bool = False) -> dict:
    """Install the signature files in ``source`` into the private clamd ``daemon`` (archivists
    and administrators only), recorded in the catalog and the ledger; the record."""
    refuse_external_clamd(settings)
    people.require_role(archive.catalog, actor, UPDATE_ROLES, "update the virus signatures")
    now = datetime.now(timezone.utc)
    # recorded before the switch: a catalog lost between switch and record still shows that
    # an update was under way (and the installed folder carries its own note)
    archive.ledger.append(actor, "scanner-update-started", str(source),
                          {"allow_unsigned": allow_unsigned})
    try:
        result = install(daemon, Path(source), installed_by=actor.person_id,
                         allow_unsigned=allow_unsigned, now=now)
    except UpdateRefused as exc:
        archive.ledger.append(actor, "scanner-update-refused", str(source),
                              {"file": exc.file, "reason": exc.reason,
                               "allow_unsigned": allow_unsigned})
        raise InputError(N_("signature update refused, the database in use is unchanged: "
                            "{reason}"), subject=exc.file, reason=exc.text) from exc
    except ScannerUnavailable as exc:
        raise ServiceUnavailable("clamd", str(daemon.home), exc.text) from exc
    record_id = f"{RECORD_PREFIX}{now:%Y%m%dT%H%M%S%fZ}"
    doc = {"kind": "scanner-update", "id": record_id, **result.to_dict()}
    archive.catalog.put_record("meta", record_id, doc)
    archive.ledger.append(actor, "scanner-update", record_id, {
        "database": result.database,
        "clamd_version": result.clamd_version,
        "unsigned": result.unsigned,
        "files": [{k: getattr(f, k) for k in ("name", "version", "build_time", "signatures",
                                              "sha256")} for f in result.files],
    })
    return doc


def last_update(archive: Archive) -> dict | None:
    """The catalog's record of the latest signature update, if any."""
    found = archive.catalog.list_records("meta", kind="scanner-update")
    return max(found, key=lambda d: d["installed_at"]) if found else None
