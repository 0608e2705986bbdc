"""Properties over any sequence of links, flags, withdrawals, confirmations, closures and runs:
retain-until never decreases; no item is disposable while a reason holds it; the store's legal
hold goes exactly when the last reason goes. The reasons are tracked here by a model written
apart from the engine."""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import InputError
from archive.worm.local import LocalWormStore
from retention import cases, disposal, flags
from tests.support.retention import make_team
from tests.support.worm import release_all_for_tests

CASES = ("SJ-A", "SJ-B")
CLOSE_DATES = (date(2026, 1, 10), date(2026, 6, 1), date(2025, 12, 31))
FAR = datetime(2200, 1, 1, tzinfo=timezone.utc)

op = st.one_of(
    st.tuples(st.just("link"), st.integers(0, 2), st.sampled_from(CASES)),
    st.tuples(st.just("flag"), st.integers(0, 2), st.sampled_from(("OF1", "AP2"))),
    st.tuples(st.just("withdraw"), st.integers(0, 5)),
    st.tuples(st.just("confirm"), st.integers(0, 5)),
    st.tuples(st.just("close"), st.sampled_from(CASES), st.sampled_from(CLOSE_DATES)),
    st.tuples(st.just("run")),
)


class Model:
    """Which reasons hold which item, by the issue's words, independent of the engine."""

    def __init__(self, activity_of: list[str | None]) -> None:
        self.activity_of = activity_of
        self.links: dict[int, set[str]] = {i: set() for i in range(len(activity_of))}
        self.closed: set[str] = set()
        self.flags: list[dict] = []  # {"items": set, "state": str, "by": str}

    def scope(self, i: int) -> set[int]:
        a = self.activity_of[i]
        return {j for j, b in enumerate(self.activity_of) if j == i or (a and a == b)}

    def held(self, i: int) -> bool:
        open_case = any(c not in self.closed for c in self.links[i])
        flagged = any(i in f["items"] and f["state"] != "withdrawn" for f in self.flags)
        return open_case or flagged


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=10))
def test_retention_only_grows_and_holds_follow_their_reasons(ops):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        catalog = SQLiteCatalog(root / "catalog.sqlite")
        store = LocalWormStore(root / "worm")
        try:
            _play(root, catalog, store, ops)
        finally:
            catalog.close()
            release_all_for_tests(root)


def _play(root: Path, catalog, store, ops) -> None:
    team = make_team(root, catalog, store)
    path = root / "cases.json"
    path.write_text(json.dumps([{"id": c, "type": "general", "unit": "market-001",
                                 "opened": "2025-12-01"} for c in CASES]), encoding="utf-8")
    cases.import_register(team.engine, team["AR1"], path)
    activity = ["ACT-1", "ACT-1", None]
    items = [team.put(activity_id=a) if a else team.put() for a in activity]
    model = Model(activity)
    flag_ids: list[str] = []
    last = {i: team.archive.item(i).retain_until for i in items}
    tier_rank = {"routine": 0, "case": 1, "permanent": 2}
    last_tier = {i: 0 for i in items}
    for o in ops:
        kind = o[0]
        if kind == "link":
            cases.link(team.engine, team["OF1"], [items[o[1]]], o[2])
            model.links[o[1]].add(o[2])
        elif kind == "flag":
            doc = flags.raise_flag(team.engine, team[o[2]], items[o[1]], "complaint")
            flag_ids.append(doc["id"])
            model.flags.append({"items": model.scope(o[1]), "state": "unconfirmed",
                                "by": o[2]})
        elif kind in ("withdraw", "confirm") and o[1] < len(flag_ids):
            f = model.flags[o[1]]
            try:
                if kind == "withdraw":
                    flags.withdraw(team.engine, team[f["by"]], flag_ids[o[1]], None)
                else:
                    flags.confirm(team.engine, team["AP1"], flag_ids[o[1]])
            except InputError:
                assert f["state"] != "unconfirmed"  # refused only when no longer open
            else:
                assert f["state"] == "unconfirmed"
                f["state"] = "withdrawn" if kind == "withdraw" else "confirmed"
        elif kind == "close":
            try:
                cases.close(team.engine, team["AR1"], o[1], o[2])
            except InputError:
                assert o[1] in model.closed
            else:
                model.closed.add(o[1])
        elif kind == "run":
            team.engine.run(team["AR1"])
        for n, i in enumerate(items):
            item = team.archive.item(i)
            assert item.retain_until >= last[i], (o, item.retention)
            last[i] = item.retain_until
            assert tier_rank[item.tier] >= last_tier[i]
            last_tier[i] = tier_rank[item.tier]
            held = model.held(n)
            assert item.legal_hold == held, (o, item.retention)
            if held:
                assert disposal.due(team.engine, item, FAR) is not None
            obj = item.storage["object"]
            assert store.lock(obj["key"], obj["version_id"]).legal_hold == held
            if any(f["state"] == "confirmed" and n in f["items"] for f in model.flags):
                assert item.tier == "permanent"
