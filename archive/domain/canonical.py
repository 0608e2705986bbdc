"""Canonical JSON: sorted keys, UTF-8, no insignificant whitespace. What gets signed."""

from __future__ import annotations

import json


def canonical(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")
