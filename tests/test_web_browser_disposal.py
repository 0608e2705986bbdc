"""Appraisal and disposal in a real browser (chromium, headless, virtual authenticators) against
``custody web`` served by gunicorn: a rehearsal for a date a year on (shown as such, nothing
recorded) → a real proposal of the expired items → two appraisers, one keeping one item with
a reason → both sign as witnesses → the archivist ticks the box and executes → the 销毁清册
shown and downloaded as PDF, the 鉴定意见 issued and shown → ``custody audit verify`` clean.

How items expire in real time: the console has no test clock (the disposal service reads the
real clock, as it must), so the items are archived recorded in January 2025 (routine: six
months, long over) with store locks that run out a few seconds later. Screenshots of every
page, checked not blank, copied to /tmp/briefs/F_shots."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.browser import (
    browser_available,
    by_id,
    console_site,
    downloaded,
    no_csp_violations,
    person_browser,
    screenshot,
    site_cli,
    wait,
)
from tests.support.cli import run

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="chromium and chromedriver are not installed")

OLD = datetime(2025, 1, 2, 1, 0, tzinfo=timezone.utc)
SHOTS = (Path("/tmp/briefs/F_shots"),)
PARTIES = ("王五", "赵六", "钱七")


def _items(settings) -> dict[str, str]:
    """Three recordings of January 2025, locked for a few seconds more, and one of today (due
    only in the rehearsal a year on)."""
    import bootstrap
    from archive import people
    from archive.domain.model import Description
    from archive.passkeys.service import attach

    archive = attach(bootstrap.open_archive(settings), settings.home)
    actor = people.identify(archive)
    until = datetime.now(timezone.utc) + timedelta(seconds=3)
    out = {}
    try:
        for n, party in enumerate(PARTIES):
            start = OLD + timedelta(hours=n)
            d = Description(kind="video", unit="market-001", device_id="DSJ-0042",
                            officers=["O1"], recorded_start=start,
                            recorded_end=start + timedelta(minutes=12), party=party,
                            cause="无照经营", activity_type="日常巡查")
            item = archive.archive_stream([os.urandom(20_000)], d, actor, until).item
            item.ingested_at = start + timedelta(days=1)
            archive.catalog.save_state(item)
            out[party] = item.id
        now = datetime.now(timezone.utc) - timedelta(hours=2)
        d = Description(kind="video", unit="market-001", device_id="DSJ-0042",
                        officers=["O1"], recorded_start=now,
                        recorded_end=now + timedelta(minutes=5), party="孙八", cause="占道经营")
        out["孙八"] = archive.archive_stream([os.urandom(20_000)], d, actor,
                                           now + timedelta(days=200)).item.id
    finally:
        archive.finish_command()
        archive.catalog.close()
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    def setup(mp, settings) -> dict:
        for pid, name, role in (("AR1", "周档案", "archivist"), ("AP1", "吴鉴定", "approver"),
                                ("AP2", "郑鉴定", "approver")):
            run("people", "add", pid, "--name", name, "--role", role)
        return {"items": _items(settings())}

    with console_site(tmp_path_factory.mktemp("disposal-console"), setup) as site:
        yield site


def _signed(driver, button: str, page_after) -> None:
    """Press a signed form's button: the passkey signs, the page moves on."""
    by_id(driver, button).click()
    wait(driver, page_after)


def test_rehearsal_appraisal_witnesses_execution_and_the_register(site, tmp_path):
    from selenium.webdriver.common.by import By

    shots, base, items = tmp_path / "shots", site["base"], site["items"]
    drivers = []
    try:
        archivist = person_browser(site, "AR1", tmp_path / "downloads")
        drivers.append(archivist)
        archivist.get(base + "/archivist/disposal")
        # due by the real clock once their short locks end: on a loaded machine the page may
        # come first, so it is asked again until they are due (or the wait gives up)
        deadline = time.monotonic() + 30
        while not all(f'data-item="{items[p]}"' in archivist.page_source for p in PARTIES):
            assert time.monotonic() < deadline, "the expired recordings never fell due"
            time.sleep(1)
            archivist.refresh()
        html = archivist.page_source
        assert f'data-item="{items["孙八"]}"' not in html
        screenshot(archivist, shots, "F1-due-now", copies=SHOTS)

        # a rehearsal a year on: today's recording too, and nothing recorded
        later = (datetime.now(timezone.utc) + timedelta(days=400)).date().isoformat()
        archivist.execute_script("document.getElementById('as-of').value = arguments[0]",
                                 later)
        by_id(archivist, "rehearse-button").click()
        wait(archivist, lambda d: d.find_elements(By.ID, "rehearsal-notice"))
        assert "未提出、未记录" in by_id(archivist, "rehearsal-notice").text
        assert f'data-item="{items["孙八"]}"' in archivist.page_source
        assert site_cli(site, "dispose", "list")["lists"] == []
        screenshot(archivist, shots, "F2-rehearsal", copies=SHOTS)

        _signed(archivist, "propose-button",
                lambda d: d.find_elements(By.ID, "list-state"))
        list_url = archivist.current_url
        list_id = list_url.rsplit("/", 1)[1]
        assert by_id(archivist, "list-state").get_attribute("data-state") == "proposed"
        screenshot(archivist, shots, "F3-proposed", copies=SHOTS)

        # two appraisers, each in their own browser; the first keeps one item with a reason
        kept = items["赵六"]
        appraisers = []
        for pid in ("AP1", "AP2"):
            driver = person_browser(site, pid)
            drivers.append(driver)
            appraisers.append(driver)
            driver.get(list_url)
            if pid == "AP1":
                row = driver.find_element(By.CSS_SELECTOR, f'tr[data-item="{kept}"]')
                row.find_element(By.CSS_SELECTOR, 'input[name="reject"]').click()
                reason = row.find_element(By.CSS_SELECTOR, 'input[type="text"]')
                reason.send_keys("当事人已申请复议")
                by_id(driver, "approve-note").send_keys("其余同意销毁")
                screenshot(driver, shots, "F4-appraisal", copies=SHOTS)
            _signed(driver, "approve-button",
                    lambda d: not d.find_elements(By.ID, "approve-form"))
        assert by_id(appraisers[1], "list-state").get_attribute("data-state") == "approved"
        assert "当事人已申请复议" in appraisers[1].page_source

        # both sign their presence as witnesses (监销)
        for driver in appraisers:
            driver.get(list_url)
            _signed(driver, "witness-button",
                    lambda d: not d.find_elements(By.ID, "witness-form"))
        screenshot(appraisers[1], shots, "F5-appraised-and-witnessed", copies=SHOTS)

        # the execution: said plainly, every item listed, the tick box, the passkey
        archivist.get(list_url)
        by_id(archivist, "execute-link").click()
        wait(archivist, lambda d: d.find_elements(By.ID, "execute-form"))
        assert "永久销毁" in by_id(archivist, "forever").text
        doomed = archivist.find_element(By.ID, "doomed-items").get_attribute("innerHTML")
        assert items["王五"] in doomed and items["钱七"] in doomed and kept not in doomed
        by_id(archivist, "confirm-forever").click()
        screenshot(archivist, shots, "F6-execute", copies=SHOTS)
        _signed(archivist, "execute-button",
                lambda d: d.find_elements(By.ID, "register-link"))
        assert by_id(archivist, "list-state").get_attribute("data-state") == "executed"
        screenshot(archivist, shots, "F7-executed", copies=SHOTS)
        by_id(archivist, "register-link").click()
        wait(archivist, lambda d: "/documents/disposal-register/" in d.current_url)
        assert "销毁清册" in archivist.page_source and "当事人已申请复议" in archivist.page_source
        screenshot(archivist, shots, "F8-register", copies=SHOTS)
        archivist.get(list_url)
        by_id(archivist, "register-pdf").click()
        pdf = downloaded(tmp_path / "downloads", ".pdf")
        assert pdf.read_bytes().startswith(b"%PDF")

        # the 鉴定意见, issued by an appraiser from the list page
        appraisers[0].get(list_url)
        by_id(appraisers[0], "opinion-button").click()
        wait(appraisers[0], lambda d: "/documents/appraisal-opinion/" in d.current_url)
        assert "鉴定意见" in appraisers[0].page_source
        screenshot(appraisers[0], shots, "F9-opinion", copies=SHOTS)
        for driver in drivers:
            no_csp_violations(driver)
    finally:
        for driver in drivers:
            driver.quit()

    shown = site_cli(site, "dispose", "show", list_id)
    decisions = {r["item"]: r["decision"] for r in shown["rows"]}
    assert decisions == {items["王五"]: "destroyed", kept: "rejected",
                         items["钱七"]: "destroyed"}
    assert site["server"].stop() == 0
    verify = site_cli(site, "audit", "verify")
    assert verify["ok"] and not verify["problems"], verify
    assert verify["attested"]["passkey_signed"] >= 6  # propose, 2 appraisals, 2 witnesses, execute
