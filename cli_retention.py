"""custody commands: retention, cases, flags, disposal, disc copies and the annual cycle (issue 4).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from cli import main  # noqa: F401
