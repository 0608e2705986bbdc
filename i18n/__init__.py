"""What people read, in their language: custody's gettext catalogs (domain ``custody``).

The language is custody's own setting — ``--lang``, ``CUSTODY_LANG``, ``[archive] language``
in the config — never the process locale, so that output (and the tests) do not change with
``LANG``. Chinese is the default; English is available. Message ids are the English texts;
strings written in Chinese in the code are their own Chinese and get an English entry in the
``en`` catalog.

The catalogs are ``i18n/locales/<lang>/LC_MESSAGES/custody.po``, kept in the repository;
``python -m i18n.catalogs update`` extracts every message (Babel, with the extractor that also
finds click's help texts) and ``compile`` writes the ``.mo`` files the install step makes. A
checkout without compiled catalogs still speaks Chinese: the ``.po`` is compiled in memory.
"""

from __future__ import annotations

import contextvars
import gettext as _gettext
import io
import os
from functools import cache
from pathlib import Path

DOMAIN = "custody"
LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "zh_CN"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
_ALIASES = {"zh": "zh_CN", "zh_cn": "zh_CN", "zh-cn": "zh_CN", "zh_hans": "zh_CN",
            "zh-hans": "zh_CN", "chinese": "zh_CN", "中文": "zh_CN",
            "en": "en", "en_us": "en", "en-us": "en", "en_gb": "en", "english": "en"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("custody_language",
                                                               default=DEFAULT)


class UnknownLanguage(ValueError):
    """A language custody has no catalog for."""


def normalize(lang: str) -> str:
    """``zh``, ``zh-CN``, ``zh_CN.UTF-8`` → ``zh_CN``; ``en_US`` → ``en``; others refused."""
    key = lang.strip().split(".", 1)[0].lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise UnknownLanguage(
        f"unknown language {lang!r}: custody speaks {', '.join(LANGUAGES)}")


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalog of ``lang``: its compiled ``.mo``, or its ``.po`` compiled in memory when
    the ``.mo`` is missing or older (a checkout nobody compiled)."""
    folder = LOCALES / lang / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as f:
            return _gettext.GNUTranslations(f)
    if po.is_file():
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        with po.open("rb") as f:
            catalog = read_po(f, locale=lang, domain=DOMAIN)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        _keep(mo, buffer.getvalue())
        buffer.seek(0)
        return _gettext.GNUTranslations(buffer)
    return _gettext.NullTranslations()


def _keep(mo: Path, data: bytes) -> None:
    """Write the compiled catalog beside its source when the folder may be written: the
    standard gettext (click's messages) reads only ``.mo`` files."""
    tmp = mo.with_name(f".{mo.name}.{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, mo)
    except OSError:
        tmp.unlink(missing_ok=True)


def use(lang: str | None) -> str:
    """Speak ``lang`` (None: the default) from now on in this context; returns its code.

    Libraries that call the standard ``gettext.gettext`` (click's "Usage:", "Error:") read the
    language from LANGUAGE: it is set to custody's, so the process locale never decides."""
    code = normalize(lang) if lang else DEFAULT
    _current.set(code)
    os.environ["LANGUAGE"] = code
    return code


def language() -> str:
    return _current.get()


def _(message: str) -> str:
    """``message`` in the current language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention extractors look for
    """Marks a message for the catalogs where it is defined; translated where it is shown."""
    return message


# click (and anything else on the standard gettext) looks its messages up in custody's catalogs
_gettext.bindtextdomain(DOMAIN, str(LOCALES))
_gettext.textdomain(DOMAIN)
os.environ.setdefault("LANGUAGE", DEFAULT)


class Text:
    """A message shown in the reader's language when it is shown, not when it is made.

    ``template`` is the English message id (a ``str.format`` template, marked with ``N_()`` or
    written as ``Text("…")`` so the catalogs find it); ``params`` fill it. ``str()`` is the
    English text — what logs, JSON ``message`` fields and stored reports keep, stable across
    languages — and :func:`localize` the current language's. A parameter may itself be a
    ``Text`` (a reason inside a refusal); it is localized with its container.
    """

    __slots__ = ("template", "params")

    def __init__(self, template: str, /, **params: object) -> None:
        self.template = template
        self.params = params

    def __str__(self) -> str:
        return _fill(self.template, self.params, str)

    def __repr__(self) -> str:
        return f"Text({self.template!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.template, self.params) == (
            other.template, other.params)

    def __hash__(self) -> int:
        return hash(self.template)

    def localized(self) -> str:
        translated = _(self.template)
        if translated is not self.template and translated != self.template:
            try:
                return _fill(translated, self.params, localize)
            except (KeyError, IndexError, ValueError):
                pass  # a catalog entry with a broken placeholder: the English text, never a crash
        return _fill(self.template, self.params, localize)


def _fill(template: str, params: dict, render) -> str:
    if not params:
        return template
    return template.format(**{k: render(v) if isinstance(v, Text) else v
                              for k, v in params.items()})


def localize_in(lang: str, message: object) -> str:
    """``message`` in ``lang`` whatever the reader's language (an official document is
    Chinese even when the person who caused the entry read English)."""
    token = _current.set(normalize(lang))
    try:
        return localize(message)
    finally:
        _current.reset(token)


def localize(message: object) -> str:
    """A ``Text`` (or an exception carrying one as ``.text``) in the current language; any
    other value as ``str()`` translated when the catalog holds it whole."""
    if isinstance(message, Text):
        return message.localized()
    text = getattr(message, "text", None)
    if isinstance(text, Text):
        return text.localized()
    plain = "" if message is None else str(message)
    return _(plain) if plain else ""  # gettext("") is the catalog's header
