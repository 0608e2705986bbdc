"""The scanner ingest uses, built from the [scanner] settings: an existing clamd (socket or
TCP), or custody's private clamd, started on demand. Scanner failures become the archive's
errors here (exit 3 unreachable, exit 2 refused), since scanners/ knows nothing of them."""

from __future__ import annotations

from pathlib import Path

from archive.domain.errors import InputError, ServiceUnavailable
from config.settings import Settings
from scanners.clamd import ClamdScanner, PrivateClamd, ScannerRefused, ScannerUnavailable
from scanners.signature_update import installed_manifest


def private_clamd(settings: Settings) -> PrivateClamd:
    sc = settings.section("scanner")
    # With test signatures allowed (tests, the demo) the private clamd loads only those.
    db = None if sc["allow_test_signatures"] else Path(sc["database_dir"])
    return _guard(lambda: PrivateClamd(
        settings.home / "scanner", database_dir=db,
        allow_test_signatures=sc["allow_test_signatures"], max_threads=sc["max_threads"],
        window_size=sc["window_mib"] << 20, overlap=sc["overlap_mib"] << 20))


def _guard(make):
    try:
        return make()
    except ScannerUnavailable as exc:
        raise ServiceUnavailable("clamd", "clamd", str(exc)) from exc
    except ScannerRefused as exc:
        raise InputError(f"virus scanner refused: {exc}") from exc


def open_scanner(settings: Settings) -> ClamdScanner:
    """The configured clamd; the private one is started if it is not running."""
    sc = settings.section("scanner")
    window, overlap = sc["window_mib"] << 20, sc["overlap_mib"] << 20
    if sc["socket"]:
        scanner = ClamdScanner(socket_path=sc["socket"], window_size=window, overlap=overlap)
    elif sc["host"]:
        scanner = ClamdScanner(host=sc["host"], port=sc["port"], window_size=window,
                               overlap=overlap)
    else:
        daemon = private_clamd(settings)
        scanner = _guard(lambda: daemon.scanner() if daemon.status()["responding"]
                         else daemon.start())
    _guard(scanner.ping)
    return scanner


def scanner_status(settings: Settings) -> dict:
    sc = settings.section("scanner")
    if sc["socket"] or sc["host"]:
        where = sc["socket"] or f"{sc['host']}:{sc['port']}"
        scanner = ClamdScanner(socket_path=sc["socket"] or None, host=sc["host"] or None,
                               port=sc["port"])
        try:
            engine, database = scanner.version()
            return {"running": True, "where": where, "engine": engine, "database": database}
        except ScannerUnavailable as exc:
            return {"running": False, "where": where, "error": str(exc)}
    daemon = private_clamd(settings)
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
