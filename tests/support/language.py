"""Running custody in Chinese from a test (the suite's default is English: tests/conftest.py)."""

from __future__ import annotations

import re

import pytest

import i18n


@pytest.fixture
def chinese(monkeypatch):
    """custody's own default, as a person without settings meets it."""
    monkeypatch.delenv("CUSTODY_LANG", raising=False)
    i18n.use(None)
    yield
    i18n.use("en")


# a run of two or more English words: what a Chinese reader should not meet in a message
_ENGLISH_WORDS = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){1,}\b")


def english_phrases(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Runs of English words left in ``text``, minus those named in ``allowed`` (product
    names, signature names, file names the person gave)."""
    found = []
    for m in _ENGLISH_WORDS.finditer(text):
        phrase = m.group(0)
        if not any(a in phrase or phrase in a for a in allowed):
            found.append(phrase)
    return found
