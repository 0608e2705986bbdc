"""Document kinds: what each official document is made of (its template, the builder of its
data, who may issue and print it), and what a builder is given (``Source``).

A kind lives in its own module under documents/ that calls ``register`` at import; the
modules are listed in ``MODULES`` and imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from archive.domain.errors import InputError
from archive.ledger.chain import Actor
from archive.service import Archive
from config.settings import Settings
from i18n import N_

# every module that declares kinds (each calls register() at import)
MODULES = ("documents.access_register", "documents.export_statement", "documents.inspection",
           "documents.four_property", "documents.retention_docs")


@dataclass
class Source:
    """What a builder reads from: the archive, the settings, the person issuing, and the
    names people read (people by name and id, units by their configured name)."""

    archive: Archive
    settings: Settings
    actor: Actor

    @cached_property
    def names(self) -> dict[str, str]:
        return {d["id"]: d.get("name") or d["id"]
                for d in self.archive.catalog.list_records("people")}

    def person(self, person_id: str | None) -> dict | None:
        """{"id", "name"} of a person (a name is never invented: an unknown id is its own
        name); None for nobody."""
        if not person_id or person_id == "-":
            return None
        return {"id": person_id, "name": self.names.get(person_id, person_id)}

    def people(self, ids: list[str] | None) -> list[dict]:
        return [p for p in (self.person(i) for i in ids or []) if p]

    def unit(self, unit_id: str | None) -> dict | None:
        if not unit_id:
            return None
        return {"id": unit_id,
                "name": self.settings.units.get(unit_id, {}).get("name") or unit_id}

    def unit_name(self, unit_id: str | None = None) -> str:
        """The name a document's header carries: the unit's configured name; for an
        archive-wide document the archive's name ([archive] name when configured), else the
        only unit's, else the fonds (全宗号)."""
        if unit_id:
            return self.unit(unit_id)["name"]  # type: ignore[index]
        archive_cfg = self.settings.section("archive")
        if archive_cfg.get("name"):
            return str(archive_cfg["name"])
        units = self.settings.units
        if len(units) == 1:
            (only,) = units.values()
            if only.get("name"):
                return str(only["name"])
        return f"全宗 {archive_cfg.get('fonds') or 'custody'}"

    @cached_property
    def _codes(self) -> dict[str, str | None]:
        return {}

    def code(self, item_id: str) -> str | None:
        """The item's 档号 (a destroyed item keeps its code), through the catalog's index: a
        document cites a few items of an archive that may hold millions of codes."""
        if item_id not in self._codes:
            self._codes[item_id] = self.archive.catalog.archive_codes_of([item_id]).get(item_id)
        return self._codes[item_id]

    def lot(self, lot: dict) -> dict:
        """A verification lot with the words a person reads for it (names.lot_words)."""
        from archive.domain.names import lot_words

        units = {u: c.get("name") or u for u, c in self.settings.units.items()}
        return dict(lot) | {"words": lot_words(lot, units, self.names)}

    def item(self, item_id: str, reveal: bool = False) -> dict:
        """An item as a document cites it: its 档号 and 题名 (composed now for an item stored
        before titles existed), kind, unit and recording times. The 题名 names party and
        cause, so it is masked for a confidential item unless ``reveal`` (a document only
        people cleared for the item read: the 提取说明 of its approved extraction)."""
        from archive.domain.errors import NotFound
        from archive.domain.titles import masked_title, title_of

        try:
            item = self.archive.item(item_id)
        except NotFound:
            return {"id": item_id, "archive_code": self.code(item_id), "title": None,
                    "kind": None, "unit": None, "recorded_start": None,
                    "recorded_end": None, "destroyed": False}
        d = item.description.to_dict()
        title = title_of(d, self.settings.unit_zone(d.get("unit")), self.names)
        if item.description.confidential and not reveal:
            title = masked_title(d | {"title": title,
                                      "title_composed": d.get("title_composed", not d.get(
                                          "title"))})
        return {"id": item.id, "archive_code": self.code(item.id), "title": title,
                "kind": d["kind"], "unit": d.get("unit"),
                "recorded_start": d.get("recorded_start"), "recorded_end": d.get("recorded_end"),
                "destroyed": item.status == "disposed"}

    def zone_name(self, unit_id: str | None = None) -> str:
        zone = self.settings.unit_zone(unit_id)
        return zone.key if zone is not None else "UTC"


Builder = Callable[[Source, str, dict], dict]


@dataclass(frozen=True)
class Kind:
    """One official document.

    ``build(src, subject, params)`` returns the document's data (plain JSON: times as ISO
    UTC strings, people as {"id","name"}); it may put ``unit`` (a unit id) in the data to
    head the document with that unit's name and zone. ``fresh`` kinds (a register over a
    period) are issued anew each time under a new id; the others once per subject (an export,
    an inspection, a batch). ``roles`` may issue and print it (None: every registered
    person); ``readers(src, subject)`` names further people who may (the extractor of
    an export). ``word`` names the sequence of its 文号 (documents.numbers)."""

    code: str
    title: str
    template: str
    build: Builder
    abbr: str
    landscape: bool = False
    roles: tuple[str, ...] | None = None
    fresh: bool = False
    readers: Callable[[Source, str], list[str]] | None = None
    signers: tuple[str, ...] = field(default_factory=tuple)
    # the word of its 文号 (〔2026〕移字第0003号): kinds sharing a word share a sequence
    word: str = "文"


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.code in KINDS and KINDS[kind.code] is not kind:
        raise ValueError(f"document kind {kind.code!r} declared twice")
    KINDS[kind.code] = kind
    return kind


def _load() -> None:
    for module in MODULES:
        importlib.import_module(module)


def get(code: str) -> Kind:
    _load()
    if code not in KINDS:
        raise InputError(N_("no document kind {kind}; the kinds are {kinds}"), kind=code,
                         kinds=", ".join(sorted(KINDS)), subject=code)
    return KINDS[code]


def all_kinds() -> list[Kind]:
    _load()
    return sorted(KINDS.values(), key=lambda k: k.code)
