"""The transfer-preparation and disc-building jobs."""

from __future__ import annotations
