"""custody upgrade: an older catalog brought to this custody's schema, never silently.

A backup first (``archive.copies.backup``), then each missing step of the registry
(``archive.catalog.schema``) in order, the version recorded after each, and each step an
entry of the ledger naming the backup. Running it again does nothing and says so; a step
cut off midway runs again (steps are idempotent). A catalog newer than this custody is
refused before anything is written to it.
"""

from __future__ import annotations

from pathlib import Path

from archive import people
from archive.catalog import schema
from archive.copies import OPERATORS
from archive.copies.backup import backup_before_upgrade
from archive.ledger.chain import Actor
from archive.service import Archive
from i18n import N_, Text


@people.records_refusals("upgrade")
def upgrade_catalog(archive: Archive, actor: Actor, backup_dir: Path,
                    uri: str | None = None) -> dict:
    """custody upgrade (archivists, administrators): the report of what was done — the
    versions, the backup, each step with what it changed."""
    catalog = archive.catalog
    found, target = catalog.schema_version, schema.current()
    if found > target:
        schema.refuse_other_version(catalog)
    people.require_role(catalog, actor, OPERATORS, Text(N_("upgrade the catalog")))
    report: dict = {"catalog": catalog.endpoint, "backend": catalog.backend, "from": found,
                    "to": target, "upgraded": found < target, "backup": None, "steps": []}
    if found == target:
        return report
    backup = backup_before_upgrade(catalog, Path(backup_dir), uri)
    report["backup"] = backup | {"dir": str(backup_dir)}
    archive.ledger.append(actor, "catalog-backup", backup["file"], {
        "sha256": backup["sha256"], "size": backup["size"], "at": backup["at"],
        "before": f"catalog upgrade {found} -> {target}"})
    for step in schema.missing_steps(found):
        details = step.apply(catalog)
        catalog.set_schema_version(step.version)
        archive.ledger.append(actor, "catalog-upgrade", catalog.endpoint, {
            "from": step.version - 1, "to": step.version, "step": step.title,
            "details": details, "backup": backup["file"]})
        report["steps"].append({"version": step.version, "title": step.title,
                                "details": details})
    return report
