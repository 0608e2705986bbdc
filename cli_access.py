"""custody commands: access requests, approvals, the access register, views and
copy-only exports (issue 5).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from cli import main  # noqa: F401
