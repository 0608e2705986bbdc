"""The archivists' handover journey in a real browser (Debian's chromium, headless) against
``custody web`` served by gunicorn, each archivist with their own passkey in WebDriver's
virtual authenticator: the preparation of last year's transfer runs as a background job the
page follows, the preparer signs it as prepared, a second archivist checks the package and
accepts it with their passkey, the 登记表 is shown, the year is finalized with 档号, a disc of
its permanent records is built (job), checked, placed and its 光盘标签 fetched as PDF; then
``custody audit verify`` is clean. Screenshots of each page (copies in /tmp/briefs/E_shots).

The console reads the real clock (it takes no date to act as of): the items are recorded last
year, the year handed over now, as an archive does it in the spring after."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

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
from tests.support.media import FORMATS, make_playable_mp4

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="chromium and chromedriver are not installed")

SH = ZoneInfo("Asia/Shanghai")
YEAR = datetime.now(SH).year - 1
SHOTS = (Path("/tmp/briefs/E_shots"),)


def _items(settings, root: Path) -> list[str]:
    """Two real recordings of last year, the second kept permanently (for the disc)."""
    import bootstrap
    from archive import people
    from archive.domain.model import Description
    from archive.passkeys.service import attach

    archive = attach(bootstrap.open_archive(settings), settings.home)
    actor = people.identify(archive)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    ids = []
    try:
        for n in range(2):
            video = make_playable_mp4(root / f"r{n}.mp4", seconds=2 + n)
            start = datetime(YEAR, 6, 1, 9, tzinfo=SH) + timedelta(hours=n)
            d = Description(kind="video", unit="market-001", device_id="DSJ-0042",
                            officers=["O1"], recorded_start=start,
                            recorded_end=start + timedelta(seconds=2 + n), party="王五",
                            cause="无照经营", activity_type="调查取证",
                            source={"original_name": f"DSJ-0042/r{n}.mp4"})
            item = archive.archive_stream([video.read_bytes()], d, actor, until,
                                          checks={"format": dict(FORMATS[".mp4"][1])}).item
            if n == 1:
                item.tier = "permanent"
                archive.catalog.save_state(item)
            ids.append(item.id)
    finally:
        archive.finish_command()
        archive.catalog.close()
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("handover")

    def setup(mp, settings) -> dict:
        run("people", "add", "AR1", "--name", "张档案", "--role", "archivist")
        run("people", "add", "AR2", "--name", "刘接收", "--role", "archivist")
        return {"items": _items(settings(), root)}

    with console_site(root, setup) as site:
        yield site


def _has(driver, selector: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_elements(By.CSS_SELECTOR, selector))


def _show(driver, name: str) -> None:
    """Scroll the element with id ``name`` into view (for the screenshot)."""
    driver.execute_script("arguments[0].scrollIntoView()", by_id(driver, name))


def _job_done(driver) -> None:
    """On a job's page: it ends (the page follows by itself), done; then its result page."""
    wait(driver, lambda d: "/jobs/" in d.current_url and _has(d, "#job-status"))
    wait(driver, lambda d: by_id(d, "job-status").get_attribute("data-status")
          in ("done", "failed", "cancelled", "interrupted"), 120)
    assert by_id(driver, "job-status").get_attribute("data-status") == "done", \
        by_id(driver, "job-error").text
    wait(driver, lambda d: by_id(d, "job-result-link").is_displayed())


def test_handover_archiving_and_discs_in_a_real_browser(site, tmp_path):
    shots, base = tmp_path / "shots", site["base"]
    page = f"{base}/archivist/transfer?year={YEAR}"
    drivers = []
    try:
        ar1 = person_browser(site, "AR1", tmp_path / "downloads")
        drivers.append(ar1)
        ar1.get(page)
        assert by_id(ar1, "phase").get_attribute("data-phase") == "handover-due"
        screenshot(ar1, shots, "E01-transfer-start", copies=SHOTS)
        by_id(ar1, "start-prepare").click()
        _job_done(ar1)
        screenshot(ar1, shots, "E02-prepare-job", copies=SHOTS)
        by_id(ar1, "job-result-link").click()
        wait(ar1, lambda d: _has(d, "#sign-prepared"))
        assert by_id(ar1, "draft-items").text.startswith("2")
        assert "电子档案移交清单" in by_id(ar1, "draft-listing").text
        _show(ar1, "draft")
        screenshot(ar1, shots, "E03-draft", copies=SHOTS)
        by_id(ar1, "sign-prepared").click()
        wait(ar1, lambda d: _has(d, "#draft-filed"))
        assert _has(ar1, "#not-receiver") and not _has(ar1, "#sign-accept")
        no_csp_violations(ar1)

        # the receiver, in their own browser: checks the package, accepts with their passkey
        ar2 = person_browser(site, "AR2")
        drivers.append(ar2)
        ar2.get(page)
        by_id(ar2, "verify-package").click()
        wait(ar2, lambda d: _has(d, "#check-result"))
        assert by_id(ar2, "check-result").get_attribute("data-ok") == "1", \
            by_id(ar2, "check").text
        _show(ar2, "receive")
        screenshot(ar2, shots, "E04-receiver-check", copies=SHOTS)
        by_id(ar2, "sign-accept").click()
        transfer = f"{YEAR}-01"
        wait(ar2, lambda d: _has(d, f'#transfer-{transfer}[data-status="accepted"]'))
        by_id(ar2, f"form-html-{transfer}").click()
        wait(ar2, lambda d: f"/documents/handover-form/{transfer}" in d.current_url)
        assert "电子档案移交与接收登记表" in ar2.page_source and "刘接收" in ar2.page_source
        screenshot(ar2, shots, "E05-handover-form", copies=SHOTS)
        no_csp_violations(ar2)

        # finalize with 档号, signed; the codes by 题名
        ar1.get(f"{base}/archivist/archiving?year={YEAR}")
        screenshot(ar1, shots, "E06-archiving", copies=SHOTS)
        by_id(ar1, "sign-finalize").click()
        wait(ar1, lambda d: _has(d, '#phase[data-phase="finalized"]'))
        assert by_id(ar1, "code-count").text == "2"
        assert "王五" in by_id(ar1, "code-list").text
        screenshot(ar1, shots, "E07-codes", copies=SHOTS)

        # the disc: built by a job, checked, placed, its label fetched
        ar1.get(f"{base}/archivist/discs")
        by_id(ar1, "start-build").click()
        _job_done(ar1)
        by_id(ar1, "job-result-link").click()
        wait(ar1, lambda d: _has(d, "#disc-list"))
        disc = site_cli(site, "disc", "list")["discs"][0]["id"]
        ar1.find_element("css selector", f"#disc-{disc} button.verify").click()
        wait(ar1, lambda d: _has(d, "#disc-check-result"))
        assert by_id(ar1, "disc-check-result").get_attribute("data-ok") == "1"
        screenshot(ar1, shots, "E08-disc-check", copies=SHOTS)
        ar1.find_element("css selector", f"#disc-{disc} input[name=location]").send_keys(
            "档案室三号柜")
        ar1.find_element("css selector", f"#disc-{disc} button.place").click()
        wait(ar1, lambda d: "档案室三号柜" in d.find_element(
            "css selector", f"#disc-{disc} td.location").text)
        _show(ar1, "inventory")
        screenshot(ar1, shots, "E09-discs-placed", copies=SHOTS)
        ar1.find_element("css selector", f"#disc-{disc} a.label-html").click()
        wait(ar1, lambda d: f"/documents/disc-label/{disc}" in d.current_url)
        assert "光盘标签" in ar1.page_source and "档案室三号柜" in ar1.page_source
        screenshot(ar1, shots, "E10-disc-label", copies=SHOTS)
        ar1.get(f"{base}/archivist/documents/disc-label/{disc}.pdf")
        assert downloaded(tmp_path / "downloads", ".pdf").read_bytes()[:5] == b"%PDF-"
        no_csp_violations(ar1)
    finally:
        for d in drivers:
            d.quit()
    assert site["server"].stop() == 0
    verify = site_cli(site, "audit", "verify")
    assert verify["ok"] and not verify["problems"], verify
    assert verify["attested"]["passkey_signed"] >= 3  # prepared, accepted, finalized
    placed = site_cli(site, "disc", "list")["discs"][0]
    assert placed["location"] == "档案室三号柜" and placed["items"] == 1
