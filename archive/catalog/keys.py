"""The integer keys the SQLite catalog indexes a digest and a dedupe key by: 63 bits of a
hash of the text, so that the index stays small and its pages are not rewritten by every
batch of random 64-character texts. Its own module, because the catalog and the schema step
that fills the keys in an older catalog both need the one definition."""

from __future__ import annotations

import hashlib


def text_key(text: str | None) -> int | None:
    """63 bits of a text's BLAKE2b hash: the integer a digest or dedupe key is indexed by.
    Two texts may share one (rarely): every lookup compares the full text as well."""
    if text is None:
        return None
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1
