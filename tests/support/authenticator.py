"""A software WebAuthn authenticator that makes real responses (the browser's virtual
authenticator is the console tests'): ES256 keys from ``cryptography``, authenticatorData with
the RP ID hash, flags, counter and attested credential data, "none" attestation, and the
clientDataJSON a browser would send — each part open to a test that wants it wrong (another
origin, another RP ID, no user verification, another challenge).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

AAGUID = bytes.fromhex("6d44ba9bf6ec2e49b9300c8fe920cb73")  # a model id, as a real one is
UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


def cose_es256(public: ec.EllipticCurvePublicKey) -> bytes:
    """The COSE_Key (EC2, P-256, ES256) of a public key."""
    n = public.public_numbers()
    return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"),
                        -3: n.y.to_bytes(32, "big")})


@dataclass
class Held:
    private: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0


@dataclass
class Authenticator:
    """Holds credentials by id; ``create`` and ``get`` answer options as a browser does."""

    aaguid: bytes = AAGUID
    credentials: dict[str, Held] = field(default_factory=dict)

    def _client_data(self, kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}, separators=(",", ":")).encode()

    def create(self, options: dict, origin: str, *, uv: bool = True, up: bool = True,
               rp_id: str | None = None, challenge: str | None = None) -> dict:
        """The response to ``navigator.credentials.create(options)`` (options as JSON)."""
        rp_id = rp_id or options["rp"]["id"]
        private = ec.generate_private_key(ec.SECP256R1())
        cred_id = os.urandom(32)
        flags = AT | (UP if up else 0) | (UV if uv else 0)
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
                     + struct.pack(">I", 0) + self.aaguid + struct.pack(">H", len(cred_id))
                     + cred_id + cose_es256(private.public_key()))
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client = self._client_data("webauthn.create", challenge or options["challenge"],
                                   origin)
        self.credentials[b64(cred_id)] = Held(private, rp_id,
                                              base64url_to_bytes(options["user"]["id"]))
        return {"id": b64(cred_id), "rawId": b64(cred_id), "type": "public-key",
                "response": {"clientDataJSON": b64(client),
                             "attestationObject": b64(attestation),
                             "transports": ["internal"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}

    def get(self, options: dict, origin: str, *, credential_id: str | None = None,
            uv: bool = True, up: bool = True, rp_id: str | None = None,
            challenge: str | None = None) -> dict:
        """The response to ``navigator.credentials.get(options)``: with the credential the
        allow list names (or ``credential_id``, or the only one held: a discoverable one)."""
        if credential_id is None:
            allowed = [c["id"] for c in options.get("allowCredentials") or []
                       if c["id"] in self.credentials]
            credential_id = (allowed or list(self.credentials))[-1]
        held = self.credentials[credential_id]
        held.counter += 1
        flags = (UP if up else 0) | (UV if uv else 0)
        auth_data = (hashlib.sha256((rp_id or options.get("rpId") or held.rp_id).encode())
                     .digest() + bytes([flags]) + struct.pack(">I", held.counter))
        client = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = held.private.sign(auth_data + hashlib.sha256(client).digest(),
                                      ec.ECDSA(hashes.SHA256()))
        return {"id": credential_id, "rawId": credential_id, "type": "public-key",
                "response": {"clientDataJSON": b64(client), "authenticatorData": b64(auth_data),
                             "signature": b64(signature), "userHandle": b64(held.user_handle)},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}


def other_key() -> str:
    """A COSE public key nobody enrolled (base64url), for a swap."""
    return b64(cose_es256(ec.generate_private_key(ec.SECP256R1()).public_key()))


def swap_credential_key(catalog, credential_id: str, public_key: str) -> None:
    """Edit the catalog's record of a credential as somebody with the database would."""
    for doc in catalog.list_records("meta", kind="passkey"):
        if doc["credential_id"] == credential_id:
            rid = "passkey:" + hashlib.sha256(credential_id.encode()).hexdigest()[:32]
            saved, catalog.journal = catalog.journal, None  # behind the archive's back
            try:
                catalog.put_record("meta", rid, doc | {"public_key": public_key})
            finally:
                catalog.journal = saved
            return
    raise KeyError(credential_id)
