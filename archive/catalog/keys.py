"""The integer keys the SQLite catalog indexes a digest, a dedupe key and an activity id by:
63 bits of the text, so that the index stays small and its pages are not rewritten by every
batch of long texts. Its own module, because the catalog and the schema steps that fill the
keys in an older catalog both need the one definition."""

from __future__ import annotations

import hashlib
import re

_HEX = "[0-9a-fA-F]"
_UUID = re.compile(f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}")


def text_key(text: str | None) -> int | None:
    """63 bits of a text's BLAKE2b hash: the integer a digest or dedupe key is indexed by.
    Two texts may share one (rarely): every lookup compares the full text as well."""
    if text is None:
        return None
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def ordered_key(text: str | None) -> int | None:
    """The integer an activity id is indexed by: a UUID's first 64 bits, and any other
    text's ``text_key``. custody's ids are UUIDv7s, which begin with their time and a
    sequence (``archive.domain.ids``): their keys rise as the ids do, so an activity's rows
    still go to the end of the index in time order, as the text did, in a third of the
    bytes. Two texts may share one: every lookup compares the full text as well."""
    if text is None:
        return None
    if _UUID.fullmatch(text):
        key = int(text[:8] + text[9:13] + text[14:18], 16)
        if key < 1 << 63:  # SQLite's integers are signed (a UUIDv7's is, until year 6429)
            return key
    return text_key(text)
