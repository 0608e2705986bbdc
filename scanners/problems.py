"""A problem found in a file, as it is stored, emitted and shown.

The stable ``code`` and the English ``message`` are what JSON, stored reports and tests read;
``text`` is the same sentence in the language of the person who ran the check, so a face shows
it without knowing how the sentence was built.
"""

from __future__ import annotations

import i18n
from i18n import Text, localize


def problem(code: str, text: Text, **extra: object) -> dict:
    """``{"code", "message" (English), "text" (the reader's language)}`` plus ``extra``."""
    return {"code": code, "message": str(text), "text": localize(text), **extra}


def shown(record: dict) -> str:
    """What a person reads for a stored problem: its ``text``, else (a record written before
    texts were kept) its English message through the catalog; a reader of English gets the
    English message, whoever ran the check."""
    text = record.get("text")
    if i18n.language() == "en" or not (isinstance(text, str) and text):
        return localize(record.get("message"))
    return text
