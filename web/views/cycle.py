"""The year's cycle at a glance: what blocks the handover and the archiving, deadlines.

Pages under /archivist/cycle."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cycle", __name__)
