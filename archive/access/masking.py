"""What a viewer may see: confidential metadata (party, cause, case, names) masked for anyone
without the item's clearance, wherever an item, a row, a record or a count is shown."""

from __future__ import annotations

from typing import Any

from archive import people
from archive.catalog.base import Catalog, Query
from archive.domain.model import Item
from archive.domain.titles import masked_title
from archive.people import person_of

MASK = "***"
MASKED_FIELDS = ("party", "cause", "case_id", "note", "source", "extra")
# what of ``extra`` names nobody and stays shown (a title is composed of it): a recording's
# part n/m and a document's type
SAFE_EXTRA = ("segment", "document_type")


def _masked_extra(extra: dict) -> dict:
    return {"masked": True} | {k: extra[k] for k in SAFE_EXTRA if k in extra}


# --- masking ------------------------------------------------------------------------------
def clearances_of(catalog: Catalog, person_id: str | None) -> frozenset[str]:
    """The confidential classes a viewer may see; none for an unknown or disabled viewer."""
    if person_id is None:
        return frozenset()
    person = person_of(catalog, person_id)
    if person is None or not person.enabled:
        return frozenset()
    return frozenset(person.clearances)


def hidden(confidential: str | None, clearances: frozenset[str]) -> bool:
    return confidential is not None and confidential not in clearances


def mask_description(d: dict, clearances: frozenset[str]) -> dict:
    """A description dict with its identifying fields masked unless the viewer is cleared."""
    if not hidden(d.get("confidential"), clearances):
        return d
    out = dict(d)
    if out.get("title"):  # first: it needs the party and cause it hides
        out["title"] = masked_title(d)
    for name in MASKED_FIELDS:
        if name in out and out[name] not in (None, "", {}, []):
            out[name] = MASK if isinstance(out[name], str) else {"masked": True}
    if isinstance(d.get("extra"), dict) and d["extra"]:
        out["extra"] = _masked_extra(d["extra"])
    if "original_name" in out and out["original_name"]:
        out["original_name"] = MASK
    return out


def mask_summary(row: dict, item: Item, clearances: frozenset[str]) -> dict:
    """A search row (``item_summary``) masked for this viewer."""
    if not hidden(item.description.confidential, clearances):
        return row
    out = dict(row)
    if out.get("title"):
        out["title"] = masked_title(item.description.to_dict() | {"title": out["title"]})
    for name in ("party", "cause", "case_id", "original_name"):
        if out.get(name):
            out[name] = MASK
    out["masked"] = True
    return out


def mask_item(item: Item, clearances: frozenset[str]) -> Item:
    """A copy of an item whose description is masked (for renderers that take Items)."""
    if not hidden(item.description.confidential, clearances):
        return item
    import copy

    masked = copy.copy(item)
    masked.current = copy.copy(item.current)
    d = copy.copy(item.description)
    d.title = masked_title(item.description.to_dict()) if d.title else None
    d.party = MASK if d.party else None
    d.cause = MASK if d.cause else None
    d.case_id = MASK if d.case_id else None
    d.note = MASK if d.note else None
    d.source = {"masked": True} if d.source else {}
    d.extra = _masked_extra(d.extra) if d.extra else {}
    masked.current.description = d
    return masked


def mask_show(out: dict, clearances: frozenset[str]) -> dict:
    """``Archive.show`` output masked: the description and every version's description."""
    if not hidden(out["description"].get("confidential"), clearances) and not any(
            hidden(v["manifest"]["description"].get("confidential"), clearances)
            for v in out.get("versions", [])):
        return out
    out = dict(out)
    out["description"] = mask_description(out["description"], clearances)
    out["versions"] = [v | {"manifest": v["manifest"] | {"description": mask_description(
        v["manifest"]["description"], clearances)}} for v in out.get("versions", [])]
    # the retention rule and holding reasons name cases; events carry source names
    retention = dict(out.get("retention") or {})
    for key in ("rule", "holds", "cases"):
        if retention.get(key):
            retention[key] = MASK if isinstance(retention[key], str) else [MASK]
    out["retention"] = retention
    disposal = retention.get("disposal")
    if disposal and isinstance(disposal.get("entry"), dict):
        entry = {k: (MASK if k in ("party", "cause", "title") and v else v)
                 for k, v in disposal["entry"].items()}
        retention["disposal"] = disposal | {"entry": entry}
    out["events"] = [{k: e.get(k) for k in ("type", "at", "agent", "outcome")}
                     for e in out.get("events", [])]
    out["masked"] = True
    return out


def mask_record(doc: dict, clearances: frozenset[str]) -> dict:
    """A quarantine (or other) record: any description inside that is confidential to this
    viewer is masked, and then so are the record's file names."""
    found = [False]

    def walk(v: object) -> object:
        if isinstance(v, dict):
            if "confidential" in v and hidden(v.get("confidential"), clearances):
                found[0] = True
                return {k: walk(x) for k, x in mask_description(v, clearances).items()}
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    out = walk(doc)
    if found[0]:
        for name in ("file", "path", "original_name"):
            if out.get(name):
                out[name] = MASK
        if isinstance(out.get("id"), str) and ":" in out["id"]:  # batch:file name
            out["id"] = out["id"].split(":", 1)[0] + ":" + MASK
        out["masked"] = True
    return out


def visible(item: Item, query: Query, clearances: frozenset[str]) -> bool:
    """A search by party, cause or case must not reveal that a hidden item matches it."""
    if not hidden(item.description.confidential, clearances):
        return True
    return query.party is None and query.cause is None and query.case_id is None


def viewer_clearances(archive: Any) -> frozenset[str]:
    """The confidential classes the person at this OS account may see: none for anyone who is
    not a registered, enabled person holding their key (fail closed, and not a refusal)."""
    from archive.domain.errors import CustodyError

    try:
        actor = people.acting_person(archive.catalog)
    except CustodyError:
        return frozenset()
    return clearances_of(archive.catalog, actor.person_id)
