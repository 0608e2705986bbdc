"""The year's statistics at the console (/audit/statistics): the weak-spot figures equal what
``custody report`` computes, drawn as inline SVG charts (no script, no inline style), and
every figure and bar leads to the items behind it (the items page, a list by activity, the
search, the inspection ledger); masked for the reader; refused to the wrong role, without a
session, and for a year, unit or figure that does not exist."""

from __future__ import annotations

import html as htmlmod
import re

import pytest

from tests.support.audit_console import YEAR, AuditConsole, act, sampled_verification
from tests.support.cli import run_json
from tests.support.console import JSON
from tests.support.damage import damage
from tests.support.language import chinese, english_phrases  # noqa: F401


@pytest.fixture
def web(tmp_path, monkeypatch):
    c = AuditConsole(tmp_path, monkeypatch)
    # a damaged recording that the auditor's sample then finds, and a playback finding
    item = c.archive.item(c.ids["d"])
    damage(c.archive.store, item.storage["object"]["key"], item.storage["object"]["version_id"])
    sampled_verification(monkeypatch, "A1", code=1)
    act(monkeypatch, "A1")
    run_json("inspect", c.ids["b"], "--finding", "interrupted", "--note", "中途关机未说明")
    act(monkeypatch, None)
    # the device register as ingest settles it: D1 delivered files 1, 2 and 5 in the year
    c.archive.catalog.put_record("devices", "D1", {
        "id": "D1", "unit": "market-001", "model": "DSJ-V9", "status": "active",
        "sequence_years": {str(YEAR): [1, 2, 5]}, "gaps_by_year": {str(YEAR): [3, 4]}})
    yield c
    c.close()


def _cards(page: str) -> dict[str, tuple[int, str]]:
    return {m.group(1): (int(m.group(3)), htmlmod.unescape(m.group(2))) for m in re.finditer(
        r'id="card-([a-z]+)" href="([^"]*)"><span class="card-value">(\d+)</span>', page)}


def _bars(page: str, chart: str) -> dict[str, str]:
    """label -> link of each bar of one chart."""
    block = re.search(rf'<figure class="chart" id="{chart}">(.*?)</figure>', page, re.S)
    assert block, chart
    return {htmlmod.unescape(label): htmlmod.unescape(href) for href, label in re.findall(
        r'<a href="([^"]+)" class="bar-link">.*?class="bar-label">([^<]+)</text>',
        block.group(1), re.S)}


def _item_ids(client, link: str) -> set[str]:
    page = client.get(link)
    assert page.status_code == 200, link
    return set(re.findall(r'href="/items/([0-9a-f-]+)"', page.get_data(as_text=True)))


def test_the_figures_are_the_reports_and_lead_to_their_items(web):
    ids = web.ids
    act(web.mp, "L1")
    report = run_json("report", "--year", str(YEAR))
    act(web.mp, None)
    l1 = web.browser("L1")
    page = l1.get(f"/audit/statistics?year={YEAR}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script>" not in html and " style=" not in html  # CSP: nothing inline
    assert html.count("<svg") >= 5 and "<rect" in html
    cards = _cards(html)
    assert {k: v for k, (v, _) in cards.items()} == {
        "late": report["late_offloads"]["total"],
        "unrecorded": report["unrecorded_cases"]["missing_activities"],
        "interrupted": report["interrupted"]["without_work_record"],
        "gaps": report["sequence_gaps"]["total_missing"],
        "faulty": len({r["device_id"] for r in report["check_failures"]["items"]
                       if "device_faulty" in r["problems"]}),
        "verification": report["verification"]["failed"],
        "findings": report["verification"]["conduct_checks"]}
    # what this home holds, so that every link below has something to find
    assert (cards["late"][0], cards["interrupted"][0], cards["faulty"][0],
            cards["verification"][0], cards["findings"][0]) == (1, 1, 1, 1, 1)

    assert _item_ids(l1, cards["late"][1]) == {ids["a"]}
    assert _item_ids(l1, _bars(html, "chart-late-officer")["执法员甲（O1）"]) == {ids["a"]}
    heading = re.search(r"<h1>(.*?)</h1>", l1.get(_bars(html, "chart-late-officer")[
        "执法员甲（O1）"]).get_data(as_text=True), re.S).group(1)
    assert "执法员甲（O1）" in heading and "officer:" not in heading  # the bar, by name
    assert _item_ids(l1, _bars(html, "chart-late-unit")["市场监督管理局执法大队"]) == {ids["a"]}
    assert _item_ids(l1, cards["verification"][1]) == {ids["d"]}
    assert _item_ids(l1, _bars(html, "chart-verification")["摘要值不符"]) == {ids["d"]}
    faulty = l1.get(cards["faulty"][1]).get_data(as_text=True)
    assert f'href="/items/{ids["c"]}"' in faulty
    assert "钱七" not in faulty  # confidential: masked for a reader without the clearance
    assert _item_ids(l1, _bars(html, "chart-faulty")["D2"]) == {ids["c"]}
    # the device's missing file numbers: its recordings of the year in the search
    gaps = _bars(html, "chart-gaps")
    assert list(gaps) == ["D1"] and cards["gaps"][0] == 2
    assert _item_ids(l1, gaps["D1"]) == {ids["a"], ids["b"]}
    # interrupted recordings: the activity, and from it the search for its recordings
    listing = l1.get(cards["interrupted"][1]).get_data(as_text=True)
    (search,) = re.findall(r'href="(/search\?activity=[^"]+)"', listing)
    assert _item_ids(l1, htmlmod.unescape(search)) == {ids["a"], ids["b"]}
    by_type = l1.get(_bars(html, "chart-interrupted")["调查取证"]).get_data(as_text=True)
    assert re.findall(r'href="(/search\?activity=[^"]+)"', by_type) == [search]
    # playback findings: the ledger, for the year and for the officer
    (finding,) = web.archive.catalog.list_records("inspections", type="conduct-check")
    for link in (cards["findings"][1], _bars(html, "chart-findings")["执法员甲（O1）"]):
        ledger = l1.get(link).get_data(as_text=True)
        assert f'id="row-{finding["id"]}"' in ledger and "中途关机未说明" in ledger
    assert "officer=O1" in _bars(html, "chart-findings")["执法员甲（O1）"]

    # another unit has none of it
    other = _cards(l1.get(f"/audit/statistics?year={YEAR}&unit=urban-001")
                   .get_data(as_text=True))
    assert {v for v, _ in other.values()} == {0}
    # nor another year
    assert {v for v, _ in _cards(l1.get("/audit/statistics?year=2020")
                                 .get_data(as_text=True)).values()} == {0}


def test_statistics_refusals(web):
    o1, a1 = web.browser("O1"), web.browser("A1")
    for path in (f"/audit/statistics?year={YEAR}",
                 f"/audit/statistics/items?year={YEAR}&figure=late",
                 f"/audit/statistics/list?year={YEAR}&what=interrupted"):
        assert o1.get(path).status_code == 403, path
        assert a1.get(path).status_code == 200, path
        anonymous = web.app.test_client()
        r = anonymous.get(path)
        assert r.status_code == 302 and "/signin" in r.headers["Location"]
        assert anonymous.get(path, headers=JSON).status_code == 401
    for path in ("/audit/statistics?year=twenty", "/audit/statistics?year=20260",
                 f"/audit/statistics?year={YEAR}&unit=no-such-unit",
                 f"/audit/statistics/items?year={YEAR}&figure=everything",
                 f"/audit/statistics/items?year={YEAR}&figure=late&key=colour:red",
                 f"/audit/statistics/list?year={YEAR}&what=nothing"):
        r = a1.get(path, headers=JSON)
        assert r.status_code == 400, (path, r.get_json())
        assert r.get_json()["error"] == "bad-input"
    # a page is not a state change: no POST is taken
    assert a1.post(f"/audit/statistics?year={YEAR}", headers=JSON).status_code == 405


def test_the_pages_read_in_chinese(chinese, web):
    """Chinese by default: the page, its charts' titles, and a refusal's reason."""
    l1 = web.browser("L1")
    page = l1.get(f"/audit/statistics?year={YEAR}").get_data(as_text=True)
    assert "薄弱环节" in page and "逾期采集（按执法人员）" in page
    chart = re.search(r'<figure class="chart" id="chart-late-officer">.*?</figure>', page, re.S)
    assert english_phrases(re.sub(r"<[^>]+>", " ", chart.group(0))) == []
    r = l1.get("/audit/statistics?year=twenty", headers=JSON)
    assert r.status_code == 400 and "年度须为数字" in r.get_json()["text"]
    assert r.get_json()["message"].startswith("the year must be a number")  # logs: English
