"""The replication and statistics-report jobs."""

from __future__ import annotations
