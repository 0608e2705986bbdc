"""The audit pages in a real browser (Debian's chromium, headless, against ``custody web``
served by gunicorn, passkeys by WebDriver's virtual authenticator). The journey: an auditor
whose sampled verification drew a recording (CLI) enrolls and signs in → the playback page
lists the sample → plays the recording in the player → records a finding signed with the
passkey → the inspection ledger shows it → a disposal proposal (CLI rehearsal two years on)
holds the item because of the open finding → the statistics page draws its charts → a
figure's link leads to the items behind it. Each page saved as a screenshot, checked not
blank (copies in /tmp/briefs/B_shots)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.browser import (
    add_passkey_authenticator,
    browser_available,
    by_id,
    chromium,
    console_site,
    no_csp_violations,
    screenshot,
    sign_in,
    site_cli,
    wait,
)
from tests.support.cli import run, run_json
from tests.support.media import FORMATS, make_playable_mp4

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="chromium and chromedriver are not installed")

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)  # 09:30 in Asia/Shanghai
SHOTS = (Path("/tmp/briefs/B_shots"),)


def _items(settings, video: Path) -> dict[str, str]:
    """A playable recording of O1 (offloaded late) and a second one of O1 on the same day."""
    import bootstrap
    from archive import people
    from archive.domain.model import Description
    from archive.passkeys.service import attach

    archive = attach(bootstrap.open_archive(settings), settings.home)
    actor = people.identify(archive)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    out = {}
    try:
        for n, party in enumerate(("王五", "赵六")):
            d = Description(kind="video", unit="market-001", device_id="DSJ-0042",
                            officers=["O1"], recorded_start=T0 + timedelta(hours=n),
                            recorded_end=T0 + timedelta(hours=n, minutes=12), party=party,
                            cause="无照经营", activity_type="调查取证",
                            source={"original_name": f"DSJ-0042/{party}.mp4"})
            if n == 0:
                body = video.read_bytes()
                checks = {"format": dict(FORMATS[".mp4"][1]),
                          "deadline": {"late": True,
                                       "due": (T0 + timedelta(days=1)).isoformat()}}
            else:
                body, checks = os.urandom(30_000), None
            out[party] = archive.archive_stream([body], d, actor, until, checks=checks).item.id
    finally:
        archive.finish_command()
        archive.catalog.close()
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit-console")

    def setup(mp, settings) -> dict:
        run("people", "add", "O1", "--name", "王建国", "--role", "officer")
        run("people", "add", "A1", "--name", "审计员甲", "--account", "a1", "--role", "auditor")
        run("people", "add", "AR1", "--name", "档案员戊", "--account", "ar1",
            "--role", "archivist")
        items = _items(settings(), make_playable_mp4(root / "recording.mp4"))
        mp.setenv("CUSTODY_ACT_AS", "A1")  # the auditor's sampled verification draws both
        sample = run_json("verify", "--query", "unit=market-001", "--all")
        mp.delenv("CUSTODY_ACT_AS")
        return {"items": items, "sample": sample["id"]}

    with console_site(root, setup) as site:
        yield site


def test_playback_finding_ledger_disposal_hold_and_statistics(site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import Select

    played = site["items"]["王五"]
    shots = tmp_path / "shots"
    driver = chromium()
    try:
        add_passkey_authenticator(driver)
        sign_in(site, driver, "A1")

        # the sample, each recording with its play link and finding form
        driver.get(site["base"] + "/audit/playback")
        assert site["sample"] in by_id(driver, "sample-note").text
        assert {r.get_attribute("id") for r in driver.find_elements(
            By.CSS_SELECTOR, "#recordings tbody tr")} == {
            f"rec-{i}" for i in site["items"].values()}
        screenshot(driver, shots, "B1-playback", copies=SHOTS)

        # play it in the one player, as the auditor's own registered view
        by_id(driver, f"play-{played}").click()
        wait(driver, lambda d: d.find_elements(By.ID, "open-view"))
        by_id(driver, "open-view").click()
        wait(driver, lambda d: "/media/playback/" in d.current_url)
        driver.execute_script("document.getElementById('player').play()")
        wait(driver, lambda d: d.execute_script(
            "return document.getElementById('player').currentTime") > 1.0, 30)
        assert "审计员甲" in by_id(driver, "overlay-viewer").text
        screenshot(driver, shots, "B2-player", copies=SHOTS)

        # the finding, signed with the passkey
        driver.get(site["base"] + "/audit/playback")
        form = by_id(driver, f"finding-{played}")
        Select(form.find_element(By.NAME, "finding")).select_by_value("no-notice")
        form.find_element(By.NAME, "note").send_keys("未告知当事人正在录像")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(driver, staleness_of(form))  # signed, and the page shown again
        findings = by_id(driver, f"rec-{played}").find_element(By.CLASS_NAME, "findings")
        assert findings.text == "未事先告知当事人（未处理）", findings.text
        screenshot(driver, shots, "B3-finding-recorded", copies=SHOTS)
        no_csp_violations(driver)

        # the inspection ledger shows it, open
        driver.get(site["base"] + "/audit/ledger")
        rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#ledger tbody tr")]
        (finding_row,) = [r for r in rows if "未告知当事人正在录像" in r]
        assert "审计员甲（A1）" in finding_row and "王五" in finding_row
        assert driver.find_elements(By.CSS_SELECTOR, "form.resolve-form")
        screenshot(driver, shots, "B4-ledger", copies=SHOTS)

        # a disposal proposal two years on holds the item because of the open finding
        rehearsal = site_cli(site, "dispose", "propose", "--as-of", "2029-01-01", person="AR1")
        held = {h["item"]: h for h in rehearsal["held"]}
        assert set(held) == {played}, rehearsal["held"]
        assert played not in {r["item"] for r in rehearsal["rows"]}
        other = site["items"]["赵六"]
        assert other in {r["item"] for r in rehearsal["rows"]}  # the other one is due

        # the statistics: charts, and a figure leads to its items
        driver.get(site["base"] + "/audit/statistics?year=2026")
        assert driver.find_elements(By.CSS_SELECTOR, "#chart-late-officer svg rect")
        assert driver.find_elements(By.CSS_SELECTOR, "#chart-findings svg rect")
        assert by_id(driver, "card-late").find_element(
            By.CLASS_NAME, "card-value").text == "1"
        screenshot(driver, shots, "B5-statistics", copies=SHOTS)
        driver.execute_script("document.getElementById('charts').scrollIntoView()")
        screenshot(driver, shots, "B5b-statistics-charts", copies=SHOTS)
        by_id(driver, "card-late").click()
        wait(driver, lambda d: "/audit/statistics/items" in d.current_url)
        links = [a.get_attribute("href") for a in driver.find_elements(
            By.CSS_SELECTOR, "#figure-items a")]
        assert [h.rsplit("/", 1)[1] for h in links] == [played]
        screenshot(driver, shots, "B6-figure-items", copies=SHOTS)
        # a bar of a chart is a link too: the officer's findings in the ledger
        driver.get(site["base"] + "/audit/statistics?year=2026")
        driver.find_element(By.CSS_SELECTOR, "#chart-findings a.bar-link").click()
        wait(driver, lambda d: "/audit/ledger" in d.current_url)
        assert "officer=O1" in driver.current_url
        assert "未告知当事人正在录像" in by_id(driver, "ledger").text
        screenshot(driver, shots, "B7-figure-ledger", copies=SHOTS)
        no_csp_violations(driver)
    finally:
        driver.quit()
    assert site_cli(site, "audit", "verify")["ok"] is True
