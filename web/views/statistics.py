"""The year's statistics for a unit: the weak spots, with charts, each figure linking to its items.

Pages under /audit/statistics."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("statistics", __name__)
