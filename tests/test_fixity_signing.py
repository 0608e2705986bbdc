from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.domain.canonical import canonical
from archive.domain.errors import InputError, NotFound
from archive.integrity.fixity import digest_bytes, digest_chunks, digest_file, new_sm3
from archive.integrity.signing import Keyring, SigningKey, fingerprint

# GB/T 32905-2016 example 1: SM3("abc")
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_known_answer():
    h = new_sm3()
    h.update(b"abc")
    assert h.hexdigest() == SM3_ABC


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=5000), max_size=20))
def test_one_pass_equals_separate_digests(chunks):
    data = b"".join(chunks)
    d = digest_chunks(chunks)
    assert d.size == len(data)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d == digest_bytes(data)


def test_digest_file_and_empty(tmp_path):
    p = tmp_path / "f.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    p.write_bytes(data)
    assert digest_file(p, chunk_size=1 << 20) == digest_bytes(data)
    empty = digest_chunks([])
    assert empty.size == 0 and empty.sha256 == hashlib.sha256(b"").hexdigest()


def test_canonical_json_is_stable():
    assert canonical({"b": 1, "a": "王五"}) == '{"a":"王五","b":1}'.encode()
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})


def test_sign_verify_and_rotation(tmp_path):
    old = SigningKey.generate(tmp_path / "old.key")
    new = SigningKey.generate(tmp_path / "new.key")
    ring = Keyring()
    ring.add(old.public)
    doc = {"item": "x", "party": "王五"}
    sig = old.sign(doc)
    ring.add(new.public)  # rotation: old signatures still verify
    assert ring.verify(doc, old.key_id, sig)
    assert not ring.verify(doc | {"party": "张三"}, old.key_id, sig)
    assert not ring.verify(doc, new.key_id, sig)
    assert not ring.verify(doc, "ed25519:unknown", sig)
    assert not ring.verify(doc, old.key_id, "not base64!")
    assert len(fingerprint(old.key_id).split()) == 8


def test_key_file_rules(tmp_path):
    path = tmp_path / "k.key"
    k = SigningKey.generate(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(InputError):
        SigningKey.generate(path)  # never replaces a key
    path.chmod(0o640)
    with pytest.raises(InputError, match="0640"):
        SigningKey.load(path)
    path.chmod(0o600)
    assert SigningKey.load(path).key_id == k.key_id
    with pytest.raises(NotFound):
        SigningKey.load(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    bad.chmod(0o600)
    with pytest.raises(InputError):
        SigningKey.load(bad)
