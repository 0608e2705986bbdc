"""The archive core: domain model, catalog, WORM store, signing and the audit ledger.

Imports nothing from ``ingest``, ``retention``, ``scanners`` or ``cli``.
"""
