"""Every kind of background job, imported once by each face that submits or runs jobs, so
that a runner knows every kind a console or a command may have queued."""

from __future__ import annotations

import importlib

MODULES = ("working.exports", "working.sampling", "working.handover", "working.upkeep")


def load() -> None:
    """Import every job kind module (each registers its kinds with ``working.jobs``)."""
    for name in MODULES:
        importlib.import_module(name)
