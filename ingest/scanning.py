"""The virus scanner's services for the faces: start, status and stop custody's private clamd,
and make sure a scanner answers before ingest uses it.

The scanner adapters (an existing clamd named by [scanner] socket or host, or custody's private
clamd) are built by bootstrap from the settings and handed in. Scanner failures become the
archive's errors here (exit 3 unreachable, exit 2 refused), since scanners/ knows nothing of
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from archive.domain.errors import InputError, ServiceUnavailable
from i18n import N_
from scanners.base import Scanner, ScannerRefused, ScannerUnavailable
from scanners.clamd import PrivateClamd
from scanners.signature_update import installed_manifest

T = TypeVar("T")


def guarded(make: Callable[[], T]) -> T:
    """Run a scanner operation; its failures as custody's errors."""
    try:
        return make()
    except ScannerUnavailable as exc:
        raise ServiceUnavailable("clamd", "clamd", exc.text) from exc
    except ScannerRefused as exc:
        raise InputError(N_("virus scanner refused: {reason}"), reason=exc.text) from exc


def answering(scanner: Scanner) -> Scanner:
    """The scanner, once it has answered a ping."""
    guarded(scanner.ping)
    return scanner


def running(daemon: PrivateClamd) -> Scanner:
    """The private clamd's scanner; the daemon is started if it is not running."""
    return answering(guarded(lambda: daemon.scanner() if daemon.status()["responding"]
                             else daemon.start()))


def start_private(daemon: PrivateClamd) -> dict:
    """`custody scanner start`: start the private clamd (if it is not running); its status."""
    guarded(daemon.start)
    return daemon.status()


def stop_private(daemon: PrivateClamd) -> None:
    """`custody scanner stop`."""
    daemon.stop()


def scanner_status(external: Scanner | None, daemon: PrivateClamd) -> dict:
    """The configured scanner's state: the existing clamd when one is configured, else the
    private one with what 'custody scanner update' recorded about its database."""
    if external is not None:
        try:
            engine, database = external.version()
            return {"running": True, "where": external.where, "engine": engine,
                    "database": database}
        except ScannerUnavailable as exc:
            return {"running": False, "where": external.where, "error": str(exc)}
    status = daemon.status()
    # What 'custody scanner update' recorded about the database the daemon runs (or will load).
    manifest = installed_manifest(status.get("database_dir") if status["running"]
                                  else daemon.installed_database())
    status["last_update"] = None if manifest is None else {
        "at": manifest["installed_at"], "by": manifest["installed_by"],
        "database": manifest["database"], "source": manifest["source"],
        "files": [f"{f['name']} {f['version'] or ''}".strip() for f in manifest["files"]],
        "unsigned": manifest["unsigned"]}
    return status
