"""Passkeys: people at the web console, proved by a WebAuthn credential on their own
authenticator (DESIGN.md, Identity). ``service`` is what the faces call; ``records`` keeps
the credentials (catalog, ledger, WORM); ``evidence`` verifies a passkey-signed or
console-attested ledger entry offline from the ledger alone; ``console_key`` is the
console's own registered Ed25519 key."""
