"""Build the adapters that the settings name, and the archive's keys in the data home."""

from __future__ import annotations

from pathlib import Path

from archive.catalog.base import Catalog
from archive.domain.errors import CatalogLost, InputError, NotFound
from archive.integrity.signing import Keyring, SigningKey, public_pem
from archive.service import ARCHIVE_KEYS_PREFIX, Archive
from archive.worm.base import WormStore
from config.settings import Settings


def open_catalog(settings: Settings) -> Catalog:
    cfg = settings.section("catalog")
    if cfg["backend"] == "mongodb":
        from archive.catalog.mongo import MongoCatalog

        return MongoCatalog(cfg["uri"], database=cfg["database"])
    from archive.catalog.sqlite import SQLiteCatalog

    return SQLiteCatalog(settings.path_in_home(cfg["path"], "catalog.sqlite"))


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
        raise InputError(f"[replica] path {root} is the primary store: a second copy must be "
                         "another store")
    if not create and not (root / "keys").is_dir():
        raise InputError(f"the replica store {root} is not there (disk not mounted?); "
                         "'custody init' creates it")
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
        raise InputError(f"no archive key at {path}: run 'custody init' first",
                         subject=str(path)) from exc


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

    return Archive(catalog, store, key, archive_keyring(settings, store),
                   settings.section("ledger")["checkpoint_retention_years"], replica=replica,
                   second_copy=copy_item)


def refuse_lost_catalog(catalog: Catalog, store: WormStore) -> None:
    """A catalog with nobody in it over a store that holds an archive is a lost catalog, not
    an empty archive: say so, instead of answering every search with nothing."""
    if catalog.ledger_head() is None and not catalog.list_records("people") and \
            next(iter(store.list_keys(ARCHIVE_KEYS_PREFIX)), None) is not None:
        catalog.close()
        raise CatalogLost(f"the catalog {catalog.endpoint} is empty but the WORM store "
                          f"{store.location} holds an archive: the catalog was lost or the "
                          "wrong one is configured; rebuild it from the store with 'custody "
                          "rebuild-catalog' (or restore a backup)", subject=catalog.endpoint)
