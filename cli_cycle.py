"""custody commands: the annual cycle (status, transfer, finalize with archive codes) and
write-once disc copies (issue 4).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from cli import main  # noqa: F401
