"""Pending metadata completed in a form; quarantined and rejected files with their reports.

Pages under /archivist/pending, /archivist/quarantine."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pending", __name__)
