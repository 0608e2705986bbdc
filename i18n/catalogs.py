"""Keeping the catalogs: extract every message people read, update each language's ``.po``,
compile the ``.mo`` files, and list what is still untranslated.

    python -m i18n.catalogs update     # after changing messages: new ids into every .po
    python -m i18n.catalogs compile    # what scripts/install.sh does
    python -m i18n.catalogs missing    # ids without a translation (the tests fail on any)
    python -m i18n.catalogs fill MAP.json ...
                                       # update, then take translations from JSON maps
                                       # ({id: translation}; Chinese ids get English)

Besides ``_()``, ``N_()`` and ``ngettext()`` calls, the extractor takes click's help texts as
people see them — every ``help="…"`` and the docstring of every command and group — and
click's own messages ("Usage:", "Error: …") from the installed click, so one catalog holds
everything a face shows.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from i18n import DOMAIN, LANGUAGES, LOCALES

ROOT = LOCALES.parents[1]
SOURCES = ("archive", "commands", "ingest", "retention", "reports", "scanners", "config",
           "documents", "web", "working", "i18n")
ROOT_MODULES = ("cli.py", "bootstrap.py")
# click's own words that its code passes to gettext through a variable, unseen by extraction
CLICK_EXTRA = ("required",)
KEYWORDS = {"_": None, "N_": None, "Text": None, "ngettext": (1, 2), "help": None}


def help_text(doc: str) -> str:
    """A help text as click shows it: dedented, without what follows a form feed."""
    return inspect.cleandoc(doc).partition("\f")[0]


def _is_command_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name in ("command", "group")


def extract_custody(fileobj: IO[bytes], keywords: object, comment_tags: object,
                    options: dict) -> Iterator[tuple[int, str, str | tuple[str, ...], list]]:
    """Babel extractor: gettext calls, ``help=`` strings and click command docstrings."""
    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    else None for a in node.args]
            if name in ("_", "N_", "Text") and args and args[0]:
                yield node.lineno, name, args[0], []
            elif name == "ngettext" and len(args) >= 2 and args[0] and args[1]:
                yield node.lineno, name, (args[0], args[1]), []
            for kw in node.keywords:
                if kw.arg in ("help", "short_help") and isinstance(kw.value, ast.Constant) \
                        and isinstance(kw.value.value, str) and kw.value.value.strip():
                    yield kw.value.lineno, "help", help_text(kw.value.value), []
        elif isinstance(node, ast.FunctionDef) and any(
                _is_command_decorator(d) for d in node.decorator_list):
            doc = ast.get_docstring(node, clean=False)
            if doc and doc.strip():
                yield node.lineno, "help", help_text(doc), []


def template() -> Catalog:
    """Every message id of custody and of click, as a template catalog."""
    catalog = Catalog(domain=DOMAIN, project="custody", charset="utf-8")
    found: list[tuple[str, int, str | tuple[str, ...]]] = []
    for folder in SOURCES:
        if (ROOT / folder).is_dir():
            for name, lineno, message, _c, _ctx in extract_from_dir(
                    ROOT / folder, method_map=[("**.py", extract_custody),
                                               ("**/templates/**.html",
                                                "jinja2.ext:babel_extract")],
                    keywords=KEYWORDS):
                found.append((f"{folder}/{name}", lineno, message))
    for module in ROOT_MODULES:
        for lineno, message, _c, _ctx in extract_from_file(extract_custody, ROOT / module,
                                                           keywords=KEYWORDS):
            found.append((module, lineno, message))
    import click

    for name, lineno, message, _c, _ctx in extract_from_dir(
            Path(click.__file__).parent, method_map=[("**.py", "python")],
            keywords={"_": None, "ngettext": (1, 2)}):
        found.append((f"click/{name}", lineno, message))
    found += [("click/core.py", 0, word) for word in CLICK_EXTRA]
    for where, lineno, message in found:
        catalog.add(message, locations=[(where, lineno)])
    return catalog


def _po(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str) -> Catalog:
    path = _po(lang)
    if not path.is_file():
        return Catalog(locale=lang, domain=DOMAIN, project="custody")
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def write(lang: str, catalog: Catalog) -> None:
    path = _po(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        # no line numbers: they would change the file on every edit of the code
        write_po(f, catalog, width=100, include_lineno=False, sort_output=True,
                 ignore_obsolete=True)


def update() -> None:
    tmpl = template()
    for lang in LANGUAGES:
        catalog = read(lang)
        catalog.update(tmpl, no_fuzzy_matching=True)
        catalog.fuzzy = False  # the header: gettext ignores a fuzzy one, plural forms with it
        write(lang, catalog)


def compile_all() -> None:
    for lang in LANGUAGES:
        path = _po(lang)
        if path.is_file():
            with path.with_suffix(".mo").open("wb") as f:
                write_mo(f, read(lang))


def written_in_chinese(text: str) -> bool:
    """Is this id Chinese (more Han characters than Latin letters)? Then Chinese is its own
    translation and English needs one; otherwise the reverse."""
    han = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0003134f")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return han > latin


def missing(lang: str) -> list[str]:
    """Ids that need a translation in ``lang`` and have none (or only a fuzzy one)."""
    out = []
    for message in read(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        needs = written_in_chinese(ids[0]) == (lang == "en")
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if needs and (not all(strings) or message.fuzzy):
            out.append(ids[0])
    return out


def fill(maps: list[Path]) -> int:
    """Update the catalogs, then take each translation the JSON maps give (several people may
    do this at once: one at a time under a lock). Returns how many entries were filled."""
    import fcntl
    import json

    given: dict[str, str | list[str]] = {}
    for path in maps:
        given.update(json.loads(path.read_text(encoding="utf-8")))
    with (LOCALES / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        update()
        filled = 0
        for lang in LANGUAGES:
            catalog = read(lang)
            for message in catalog:
                key = message.id[0] if isinstance(message.id, tuple) else message.id
                if not key or key not in given or written_in_chinese(key) != (lang == "en"):
                    continue
                value = given[key]
                message.string = tuple(value) if isinstance(message.id, tuple) else value
                message.flags.discard("fuzzy")
                filled += 1
            write(lang, catalog)
    return filled


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a template (``{{`` is no field)."""
    import string

    try:
        return {field for _lit, field, _spec, _conv in string.Formatter().parse(text)
                if field is not None}
    except ValueError:
        return {"<malformed>"}


def broken_placeholders(lang: str) -> list[str]:
    """Ids whose translation names other fields than the id: it would fall back to English."""
    out = []
    for message in read(lang):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if len(ids) > 1:  # a language with one plural form may use the plural's fields
            allowed = set().union(*(placeholders(i) for i in ids))
            bad = any(s and not placeholders(s) <= allowed for s in strings)
        else:
            bad = any(s and placeholders(s) != placeholders(ids[0]) for s in strings)
        if bad:
            out.append(ids[0])
    return out


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "missing"
    if action == "update":
        update()
    elif action == "fill":
        print(f"{fill([Path(a) for a in argv[1:]])} entries filled")
        gaps = sum(len(missing(lang)) for lang in LANGUAGES)
        print(f"{gaps} still untranslated (python -m i18n.catalogs missing)")
    elif action == "compile":
        compile_all()
    elif action == "missing":
        gaps = {lang: missing(lang) for lang in LANGUAGES}
        for lang, ids in gaps.items():
            for i in ids:
                print(f"{lang}\t{i}")
        return 1 if any(gaps.values()) else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
