"""Working state: what custody needs while it works but is not part of the archive.

Sessions, WebAuthn challenges, invite tokens (hashed), rate-limit counters and background
jobs live here — in ``<home>/working.db``, outside the journaled catalog: never written to the
WORM store, never signed, never replicated, and lost without harm (a lost session signs in
again; a lost job record is shown by its runner as interrupted).
"""
