"""The case register (import, link, close) and flags (raise, confirm permanent, withdraw).

Pages under /archivist/cases, /archivist/flags."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cases", __name__)
