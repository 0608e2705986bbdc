"""Catalog backends behind one interface (``base.Catalog``)."""

from archive.catalog.base import Catalog, Page, Query

__all__ = ["Catalog", "Page", "Query"]
