"""Sampled machine-read verification (抽样机读检验) at the console:
the lot, the plan, the job, the result, the signed report.

Pages under /audit/sampling."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sampling", __name__)
