"""Write-once stores behind one interface (``base.WormStore``)."""

from archive.worm.base import PendingObject, WormStore, metadata_key, object_key

__all__ = ["PendingObject", "WormStore", "metadata_key", "object_key"]
