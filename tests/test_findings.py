"""Playback findings (回放检查): an open finding holds its item from disposal until someone
settles it with a signed resolution of its own; the finding itself is never edited."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from archive.domain.canonical import canonical
from archive.domain.errors import IdentityError, InputError
from archive.verification import inspect_lot, record_finding, resolve_finding
from retention import disposal
from tests.support.retention import make_team


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


def _held(team) -> set[str]:
    ahead = datetime.now(timezone.utc) + timedelta(days=400)  # a rehearsal: nothing stored
    return {h["item"] for h in disposal.propose(team.engine, team["AR1"], ahead)["held"]}


def test_a_finding_holds_its_item_until_resolved(team):
    item = team.put()
    inspect_lot(team.archive, team["AU1"], [item], {"query": "test"}, everything=True)
    finding = record_finding(team.archive, team["AU1"], item, "no-notice", "未告知当事人")
    assert _held(team) == {item}

    with pytest.raises(IdentityError, match="takes the role"):
        resolve_finding(team.archive, team["OF1"], finding["id"], "已整改")
    refused = [e for e in team.catalog.ledger_entries() if e.action == "refused"]
    assert refused[-1].details["attempted"] == "inspections resolve"
    with pytest.raises(InputError, match="--note"):
        resolve_finding(team.archive, team["AU2"], finding["id"], "  ")

    done = resolve_finding(team.archive, team["AU2"], finding["id"], "已约谈执法人员，补充说明")
    assert done["resolution"]["by"] == "AU2" and _held(team) == set()
    # the finding as it was filed stays in the store; the resolution is signed beside it
    stored = json.loads(team.store.read_bytes(*_newest(team, f"inspections/{finding['id']}.json")))
    assert "resolution" not in stored and stored["finding"] == "no-notice"
    res = json.loads(team.store.read_bytes(
        *_newest(team, f"inspections/{finding['id']}.resolution.json")))
    signature = res.pop("signature")
    assert team["AU2"].key.public.verify(base64.b64decode(signature), canonical(res)) is None
    with pytest.raises(InputError, match="resolved already"):
        resolve_finding(team.archive, team["AU1"], finding["id"], "again")


def _newest(team, key: str) -> tuple[str, str]:
    versions = team.store.versions(key)
    assert versions, key
    return key, versions[-1]
