"""Handover (移交), archiving with 档号, discs.

Pages under /archivist/transfer, /archivist/archiving, /archivist/discs."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("handover", __name__)
