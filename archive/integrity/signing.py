"""Ed25519 keys, key ids, and signatures over canonical JSON.

A key id is ``ed25519:`` + SHA-256 of the raw public key. Public keys are kept in a keyring
that only grows (rotation never orphans a signature); private keys live in files of mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from archive.domain.canonical import canonical
from archive.domain.errors import InputError, NotFound
from i18n import N_


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_pem(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:  # cryptography's "could not deserialize"
        raise InputError(N_("not a PEM public key")) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(N_("not an Ed25519 public key"))
    return key


def fingerprint(key_id: str) -> str:
    """The key id grouped for reading aloud and printing on paper."""
    hexpart = key_id.split(":", 1)[-1]
    return " ".join(hexpart[i:i + 4] for i in range(0, 32, 4)).upper()


class SigningKey:
    """A private key loaded from (or created in) a file that only its owner may read."""

    def __init__(self, private: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._private = private
        self.path = path
        self.public = private.public_key()
        self.key_id = key_id_of(self.public)

    @classmethod
    def generate(cls, path: Path) -> SigningKey:
        if path.exists():
            raise InputError(N_("{path} exists; refusing to replace a key"), subject=str(path),
                             path=str(path))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        return cls(private, path)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise NotFound(N_("key file {path} does not exist"), subject=str(path),
                           path=str(path)) from exc
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise InputError(N_("key file {path} has mode {mode}; it must be readable by its "
                                "owner only (0600)"), subject=str(path), path=str(path),
                             mode=f"{stat.S_IMODE(st.st_mode):04o}")
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise InputError(N_("key file {path} is not a readable private key: {reason}"),
                             subject=str(path), path=str(path), reason=str(exc)) from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise InputError(N_("key file {path} is not an Ed25519 key"), subject=str(path),
                             path=str(path))
        return cls(private, path)

    def sign(self, doc: object) -> str:
        return base64.b64encode(self._private.sign(canonical(doc))).decode()

    def sign_bytes(self, data: bytes) -> str:
        return base64.b64encode(self._private.sign(data)).decode()


class Keyring:
    """Public keys by key id; verifies signatures made by any key it has ever held."""

    def __init__(self, keys: dict[str, Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = dict(keys or {})

    def add(self, public: Ed25519PublicKey) -> str:
        kid = key_id_of(public)
        self._keys[kid] = public
        return kid

    def add_pem(self, pem: str) -> str:
        return self.add(load_public_pem(pem))

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, doc: object, key_id: str, signature: str) -> bool:
        return self.verify_bytes(canonical(doc), key_id, signature)

    def verify_bytes(self, data: bytes, key_id: str, signature: str) -> bool:
        key = self._keys.get(key_id)
        if key is None:
            return False
        try:
            key.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, ValueError):
            return False
        return True
