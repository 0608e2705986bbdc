"""Catalog backends behind one interface (``base.Catalog``)."""

from .base import Catalog, Page, Query

__all__ = ["Catalog", "Page", "Query"]
