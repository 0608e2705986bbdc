"""The items of a case, as every reader sees them: those whose description names the case and
those linked to it (its record on the item), found by the masked search and counted by case,
on both catalogs; a confidential item's case stays hidden from a viewer not cleared for it."""

from __future__ import annotations

import pytest

from archive.access import lookup
from archive.catalog.base import Query
from archive.domain.model import CONFIDENTIAL_CLASSES
from tests.support.access import access_team
from tests.support.worm import release_all_for_tests

NONE = frozenset()
ALL = frozenset(CONFIDENTIAL_CLASSES)


@pytest.fixture
def team(tmp_path, catalog):
    s = access_team(tmp_path, catalog)
    for name in ("a", "secret"):  # linked to case C7 as 'case link' records it
        item = s.catalog.get_item(s.items[name])
        item.retention = {**item.retention, "cases": ["C7"]}
        s.catalog.save_state(item)
    yield s
    release_all_for_tests(tmp_path)


def _ids(page: dict) -> list[str]:
    return [r["id"] for r in page["items"]]


def test_linked_items_are_found_and_counted_by_their_case(team):
    s = team
    assert sorted(_ids(lookup.search_items(s.archive, ALL, Query(case_id="C7")))) == sorted(
        [s.items["a"], s.items["secret"]])
    assert lookup.count_items(s.archive, ALL, "case_id") == {"C7": 2, "": 2}
    assert lookup.count_items(s.archive, ALL, "kind", Query(case_id="C7")) == {"video": 2}


def test_a_confidential_items_case_stays_hidden(team):
    s = team
    assert _ids(lookup.search_items(s.archive, NONE, Query(case_id="C7"))) == [s.items["a"]]
    # counted item by item for a viewer without clearances: the hidden one under ***
    assert lookup.count_items(s.archive, NONE, "case_id") == {"C7": 1, "***": 2, "": 1}
