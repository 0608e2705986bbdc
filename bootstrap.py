"""The one wiring place: the adapters that the settings name, the archive's keys in the data
home, and every archive service built from them (the configured archive, a new one, the first
one of ``init``, a rebuild's and a migration's targets). The faces call these; nothing else
builds an adapter or an ``Archive``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from archive import people
from archive.catalog import schema
from archive.catalog.base import Catalog
from archive.domain.errors import (
    CatalogLost,
    CustodyError,
    IdentityError,
    InputError,
    NotFound,
)
from archive.integrity import stations
from archive.integrity.signing import Keyring, SigningKey, fingerprint, public_pem
from archive.ledger.chain import Actor
from archive.service import ARCHIVE_KEYS_PREFIX, Archive
from archive.worm.base import WormStore
from config import settings as settings_mod
from config.settings import Settings
from i18n import N_, Text

if TYPE_CHECKING:
    from retention.engine import RetentionEngine
    from retention.policy import CyclePolicy
    from scanners.clamd import ClamdScanner, PrivateClamd, Scanner


def open_catalog(settings: Settings, *, older: bool = False) -> Catalog:
    """The configured catalog, at this custody's schema version: an older one is refused
    until 'custody upgrade' (``older``: the upgrade itself opens it), a newer one always
    (archive.catalog.schema)."""
    cfg = settings.section("catalog")
    if cfg["backend"] == "mongodb":
        from archive.catalog.mongo import MongoCatalog

        catalog: Catalog = MongoCatalog(cfg["uri"], database=cfg["database"])
    else:
        from archive.catalog.sqlite import SQLiteCatalog

        catalog = SQLiteCatalog(settings.path_in_home(cfg["path"], "catalog.sqlite"))
    if not (older and catalog.schema_version < schema.current()):
        try:
            schema.refuse_other_version(catalog)
        except CustodyError:
            catalog.close()
            raise
    return catalog


def open_store(settings: Settings, create: bool = False) -> WormStore:
    cfg = settings.section("store")
    if cfg["backend"] == "s3":
        from archive.worm.s3 import S3WormStore

        return S3WormStore.from_settings(cfg, create=create)
    from archive.worm.local import LocalWormStore

    return LocalWormStore(settings.path_in_home(cfg["path"], "worm"), immutable=cfg["immutable"])


def replica_configured(settings: Settings) -> bool:
    return bool(settings.section("replica").get("backend"))


def open_replica(settings: Settings, create: bool = False) -> WormStore | None:
    """The second copy's WORM store ([replica]), or None when none is configured."""
    cfg = settings.section("replica")
    if not cfg.get("backend"):
        return None
    if cfg["backend"] == "s3":
        from archive.worm.s3 import S3WormStore

        return S3WormStore.from_settings(cfg, create=create)
    from archive.worm.local import LocalWormStore

    root = Path(cfg["path"]).expanduser()
    primary = settings.section("store")
    if primary["backend"] == "local" and root.resolve() == settings.path_in_home(
            primary["path"], "worm").expanduser().resolve():
        raise InputError(N_("[replica] path {path} is the primary store: a second copy must "
                            "be another store"), path=str(root))
    if not create and not (root / "keys").is_dir():
        raise InputError(N_("the replica store {path} is not there (disk not mounted?); "
                            "'custody init' creates it"), path=str(root))
    return LocalWormStore(root, immutable=cfg["immutable"])


def keys_dir(settings: Settings) -> Path:
    return settings.home / "keys"


def create_archive_key(settings: Settings) -> SigningKey:
    key = SigningKey.generate(keys_dir(settings) / "archive.key")
    public_dir = keys_dir(settings) / "public"
    public_dir.mkdir(parents=True, exist_ok=True)
    (public_dir / (key.key_id.split(":", 1)[1] + ".pem")).write_text(public_pem(key.public))
    return key


def rotate_archive_key(settings: Settings) -> tuple[SigningKey, str]:
    """A new archive key; the old private key is set aside (never deleted here) and its public
    key stays in the keyring and the store, so every old signature still verifies."""
    old = load_archive_key(settings)
    retired = keys_dir(settings) / "retired"
    retired.mkdir(parents=True, exist_ok=True, mode=0o700)
    old.path.rename(retired / f"archive-{old.key_id.split(':', 1)[1]}.key")
    return create_archive_key(settings), old.key_id


def load_archive_key(settings: Settings) -> SigningKey:
    path = keys_dir(settings) / "archive.key"
    try:
        return SigningKey.load(path)
    except NotFound as exc:
        raise InputError(N_("no archive key at {path}: run 'custody init' first"),
                         subject=str(path), path=str(path)) from exc


def archive_keyring(settings: Settings, store: WormStore | None) -> Keyring:
    """Every archive public key: the local copies and those published in the store."""
    ring = Keyring()
    public_dir = keys_dir(settings) / "public"
    if public_dir.is_dir():
        for pem in sorted(public_dir.glob("*.pem")):
            ring.add_pem(pem.read_text())
    if store is not None:
        for key, version_id, _ in store.list_keys(ARCHIVE_KEYS_PREFIX):
            ring.add_pem(store.read_bytes(key, version_id).decode())
    return ring


def _assemble(settings: Settings, catalog: Catalog, store: WormStore, key: SigningKey,
              keyring_store: WormStore | None = None, **extra: object) -> Archive:
    """The archive service over these adapters, with every archive public key; its ledger
    entries name this home's station."""
    archive = Archive(catalog, store, key, archive_keyring(settings, keyring_store or store),
                      settings.section("ledger")["checkpoint_retention_years"], **extra)
    archive.ledger.station = settings.station or None
    return archive


def open_archive(settings: Settings) -> Archive:
    store = open_store(settings)
    catalog = open_catalog(settings)
    key = load_archive_key(settings)
    refuse_lost_catalog(catalog, store)
    # ingest writes the second copy itself only when asked; otherwise 'custody replicate'
    replica = None
    if settings.section("replica").get("write_on_ingest"):
        from archive.copies.replica import Unreachable, read_errors

        try:
            replica = open_replica(settings)
        except read_errors() as exc:  # ingest goes on; each item records the failure
            replica = Unreachable(settings.section("replica"), exc)
    from archive.copies.replica import copy_item

    return _assemble(settings, catalog, store, key, replica=replica, second_copy=copy_item)


def open_for_upgrade(settings: Settings) -> Archive:
    """What 'custody upgrade' works on: the configured archive over its catalog as it is,
    older than this custody or current (a newer one is refused before anything is
    written to it)."""
    store = open_store(settings)
    catalog = open_catalog(settings, older=True)
    return _assemble(settings, catalog, store, load_archive_key(settings))


def refuse_lost_catalog(catalog: Catalog, store: WormStore) -> None:
    """A catalog with nobody in it over a store that holds an archive is a lost catalog, not
    an empty archive: say so, instead of answering every search with nothing."""
    if catalog.ledger_head() is None and not catalog.list_records("people") and \
            next(iter(store.list_keys(ARCHIVE_KEYS_PREFIX)), None) is not None:
        catalog.close()
        raise CatalogLost(N_("the catalog {catalog} is empty but the WORM store {store} "
                             "holds an archive: the catalog was lost or the wrong one is "
                             "configured; rebuild it from the store with 'custody "
                             "rebuild-catalog' (or restore a backup)"),
                          subject=catalog.endpoint, catalog=catalog.endpoint,
                          store=store.location)


def console_app(settings: Settings):  # -> flask.Flask
    """custody web: the console (web.app) over the configured archive, opened by the first
    request that needs it (after the server has forked)."""
    from web.app import create_app

    return create_app(settings, archive_factory=lambda: open_archive(settings))


def catalog_uri(settings: Settings) -> str | None:
    """The catalog's server URI (MongoDB), for tools that dump it; None for SQLite."""
    return settings.section("catalog").get("uri")


def require_replica(settings: Settings) -> WormStore:
    """The second copy's store; refused when no [replica] is configured."""
    replica = open_replica(settings)
    if replica is None:
        raise InputError(N_("no [replica] is configured (config: [replica] backend = "
                            "\"local\" or \"s3\")"))
    return replica


def media_probe() -> Callable[[BinaryIO], float | None]:
    """How verification re-reads a recording: its duration by MediaInfo (None: unparseable)."""
    from scanners.media import read_media

    return lambda f: read_media(f).duration_s


@contextmanager
def _finishing(archive: Archive) -> Iterator[Archive]:
    """Work on an archive no face holds: its signed checkpoint and journal segment at the end
    (as after every command), its catalog closed, also when the work is refused."""
    try:
        yield archive
    except BaseException:
        try:
            archive.finish_command()
        except CustodyError:
            pass
        finally:
            archive.catalog.close()
        raise
    try:
        archive.finish_command()
    finally:
        archive.catalog.close()


def initialize(settings: Settings, person_id: str = "admin", name: str = "系统管理员") -> dict:
    """custody init: the data home, the store (and the replica, when configured), this home's
    archive key -- its station's key -- (kept when there is one), the catalog (a lost one is
    refused, never started anew), the public key published in the store and registered for
    this home's station, and the first administrator bound to this OS account. Safe to run
    again.

    A home without a key over a catalog that already has people is a station joining the
    archive: its operator must be an administrator the archive knows (bound to this OS
    account, with their key here), and its station id one no other home holds; both are
    checked before any key is made, and nothing is written when either is refused."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = open_store(settings, create=True)
    replica = open_replica(settings, create=True)
    station = settings.station or None
    created = not (keys_dir(settings) / "archive.key").exists()
    catalog = open_catalog(settings)
    # an empty catalog over a store that holds an archive: rebuild it, never start anew
    refuse_lost_catalog(catalog, store)
    joining: Actor | None = None
    if created and catalog.list_records("people"):
        try:
            joining = _joining_operator(catalog, station)
        except CustodyError:
            catalog.close()
            raise
    key = create_archive_key(settings) if created else load_archive_key(settings)
    archive = _assemble(settings, catalog, store, key)
    with _finishing(archive):
        stations.refuse_renamed(catalog, station, key.key_id)
        stations.refuse_claimed(catalog, station, key.key_id)
        archive.publish_key()
        actor = joining or people.first_administrator(archive, person_id, name)
        if stations.registration(catalog, key.key_id) is None:
            first = created and joining is None
            stations.register_key(archive, actor, key.key_id, station,
                                  "archive-key-created" if first else "station-key-registered")
    return {"home": str(settings.home), "catalog": catalog.endpoint, "store": store.describe(),
            "archive_key": key.key_id, "fingerprint": fingerprint(key.key_id),
            "created": created, "administrator": actor.person_id, "station": station,
            "joined": joining is not None,
            "replica": replica.describe() if replica else None}


def _joining_operator(catalog: Catalog, station: str | None) -> Actor:
    """Who registers a new station in an archive that has people: an administrator it knows,
    acting at this OS account with their own key. Nobody registers themselves through init.
    A refusal here is not written to the ledger: this home has no registered key yet to sign
    its journal and checkpoint, and an entry other stations could not verify is worse than
    none."""
    try:
        actor = people.acting_person(catalog)
    except IdentityError as exc:
        account = people.os_account()
        if catalog.list_records("people", os_account=account):
            what = Text("the person's own key must be in their home on this machine (made by "
                        "'custody people add' or 'custody people rekey'; a station never "
                        "makes one for them)")
        else:
            what = Text("an administrator of the archive first adds this OS account (custody "
                        "people add ID --name NAME --account {account} --role "
                        "administrator), with the person's key in their home here "
                        "(~/.config/custody/)", account=account)
        raise IdentityError(
            N_("{refusal}. This archive already has people: a new station joins it through "
               "an administrator it knows; {what}. Then run 'custody init' here again"),
            subject=exc.subject, refusal=exc.text, what=what) from exc
    people.require_role(catalog, actor, people.ADMINISTRATORS,
                        Text("register station {station} in the archive",
                             station=stations.shown(station)))
    stations.refuse_claimed(catalog, station, None)
    return actor


def rotate_key(settings: Settings, actor: Actor) -> dict:
    """A new key for this home's station; its old one retired (its public key stays, so its
    signatures still verify), the new one published in the store and registered for the same
    station, the rotation in the ledger. Other stations' keys are not touched."""
    new, old_id = rotate_archive_key(settings)
    archive = open_archive(settings)
    with _finishing(archive):
        archive.publish_key()
        doc = stations.rotate(archive, actor, old_id, new.key_id, settings.station or None)
    return {"key_id": new.key_id, "fingerprint": fingerprint(new.key_id), "previous": old_id,
            "station": doc["station"]}


def create_archive(settings: Settings) -> Archive:
    """A new archive in a fresh data home (the demo): the store created, a new archive key,
    its public key published in the store."""
    store = open_store(settings, create=True)
    catalog = open_catalog(settings)
    archive = _assemble(settings, catalog, store, create_archive_key(settings))
    archive.publish_key()
    return archive


REBUILD_SOURCES = ("primary", "replica")


def open_rebuild(settings: Settings, source: str = "primary",
                 into: Path | None = None) -> Archive:
    """What rebuild-catalog works on, as one archive: the WORM store to read (the primary or
    the replica) under the catalog to build (the configured one, or a new SQLite file)."""
    if source not in REBUILD_SOURCES:
        raise InputError(N_("source must be one of {choices}"),
                         choices=", ".join(REBUILD_SOURCES))
    store = open_store(settings)
    if source == "replica":
        store = open_replica(settings)
        if store is None:
            raise InputError(N_("no replica store is configured ([replica] in the config)"))
    if into is not None and into.exists():
        raise InputError(N_("{path} exists; a rebuild makes a new catalog"), subject=str(into),
                         path=str(into))
    key = load_archive_key(settings)
    if into is not None:
        from archive.catalog.sqlite import SQLiteCatalog

        target: Catalog = SQLiteCatalog(into)
    else:
        target = open_catalog(settings)
    return _assemble(settings, target, store, key)


@contextmanager
def migration(settings: Settings, to_config: str | Path
              ) -> Iterator[tuple[Archive, Callable[[], Archive]]]:
    """A migration's source (the configured archive, only read; closed at the end) and how to
    open its target (the backends ``to_config`` names, its store created), to be called once
    the migration is allowed. A migration refused before its target is opened leaves the
    refusal checkpointed in the source, as any command would."""
    source = open_archive(settings)
    opened: list[Archive] = []

    def open_target() -> Archive:
        target = settings_mod.load(to_config, settings.home)
        store = open_store(target, create=True)
        opened.append(Archive(open_catalog(target), store, source.key,
                              archive_keyring(settings, source.store),
                              target.section("ledger")["checkpoint_retention_years"]))
        opened[-1].ledger.station = settings.station or None
        return opened[-1]

    try:
        yield source, open_target
    finally:
        try:
            if not opened:
                source.finish_command()
        except CustodyError:
            pass
        finally:
            source.catalog.close()


# --- the virus scanner (ingest/scanning.py turns its failures into custody's errors) ---------
def external_clamd(settings: Settings) -> ClamdScanner | None:
    """The existing clamd that [scanner] names by socket or host, or None: then custody runs
    its own (private_clamd)."""
    from scanners.clamd import ClamdScanner

    sc = settings.section("scanner")
    window, overlap = sc["window_mib"] << 20, sc["overlap_mib"] << 20
    if sc["socket"]:
        return ClamdScanner(socket_path=sc["socket"], window_size=window, overlap=overlap)
    if sc["host"]:
        return ClamdScanner(host=sc["host"], port=sc["port"], window_size=window,
                            overlap=overlap)
    return None


def private_clamd(settings: Settings) -> PrivateClamd:
    """Custody's own clamd under <home>/scanner. With test signatures allowed (tests, the
    demo) it loads only those."""
    from ingest.scanning import guarded
    from scanners.clamd import PrivateClamd

    sc = settings.section("scanner")
    db = None if sc["allow_test_signatures"] else Path(sc["database_dir"])
    return guarded(lambda: PrivateClamd(
        settings.home / "scanner", database_dir=db,
        allow_test_signatures=sc["allow_test_signatures"], max_threads=sc["max_threads"],
        window_size=sc["window_mib"] << 20, overlap=sc["overlap_mib"] << 20))


def open_scanner(settings: Settings) -> Scanner:
    """The configured virus scanner, answering: the existing clamd, or the private one
    (started if it is not running)."""
    from ingest.scanning import answering, running

    external = external_clamd(settings)
    return answering(external) if external is not None else running(private_clamd(settings))


# --- the retention services ----------------------------------------------------------------
def retention_engine(archive: Archive, settings: Settings) -> RetentionEngine:
    """The rules of every unit applied to the archive (the real clock)."""
    from retention.engine import RetentionEngine

    return RetentionEngine(archive, settings)


def cycle_policy(settings: Settings) -> CyclePolicy:
    """What the annual cycle needs from the configuration: fonds, zones, deadlines."""
    from retention.policy import CyclePolicy

    return CyclePolicy.from_settings(settings)
