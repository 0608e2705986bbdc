"""Appraisal and disposal (鉴定销毁).

Pages under /archivist/disposal."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("disposal", __name__)
