"""Playback inspection (回放检查) findings and the inspection ledger (检查台帐).

Pages under /audit/playback, /audit/ledger."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("inspections", __name__)
