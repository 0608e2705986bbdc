"""Intake of device offloads and scanned documents (see the ingest issue)."""
