"""An auditor's sampled verification with a failing item and its report, in headless
chromium against ``custody web`` (gunicorn) and its detached job runner: a lot of two
recordings of one unit, one of whose stored bytes were damaged → the GB/T 2828.1 plan shown
before it starts → the background job → the result names the failure and what to do → the
draft 抽样检验报告 → signed with the auditor's passkey (WebDriver's virtual authenticator) →
the signed report shown and its PDF fetched → the run is in the 检查台帐 → ``custody audit
verify`` clean. Screenshots of each page are checked not blank (copies in
/tmp/briefs/A_shots)."""

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
    downloaded,
    no_csp_violations,
    screenshot,
    sign_in,
    site_cli,
    wait,
)
from tests.support.cli import run

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="chromium and chromedriver are not installed")

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)
SHOTS = (Path("/tmp/briefs/A_shots"),)


def _items(settings) -> list[str]:
    """Two recordings of market-001; the first one's stored bytes are then damaged (a bit
    flipped in the WORM store's file, as rot or a hand would)."""
    import bootstrap
    from archive import people
    from archive.domain.model import Description
    from archive.worm.local import set_immutable

    archive = bootstrap.open_archive(settings)
    actor = people.identify(archive)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    ids = []
    try:
        for n, party in enumerate(("王五", "赵六")):
            d = Description(kind="video", unit="market-001", device_id="DSJ-0042",
                            officers=["O1"], recorded_start=T0 + timedelta(hours=n),
                            recorded_end=T0 + timedelta(hours=n, minutes=5), party=party,
                            cause="无照经营", source={"original_name": f"{party}.mp4"})
            ids.append(archive.archive_stream([os.urandom(40_000)], d, actor, until).item.id)
        obj = archive.item(ids[0]).storage["object"]
        path = archive.store._version_path(obj["key"], obj["version_id"])
    finally:
        archive.finish_command()
        archive.catalog.close()
    set_immutable(path, False)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    def setup(mp, settings) -> dict:
        run("people", "add", "A1", "--name", "孙审计", "--role", "auditor")
        return {"items": _items(settings())}

    with console_site(tmp_path_factory.mktemp("sampling"), setup) as site:
        yield site


def test_an_auditors_sampled_verification_with_a_failing_item_and_its_report(site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots, downloads = tmp_path / "shots", tmp_path / "downloads"
    base = site["base"]
    damaged, sound = site["items"]
    driver = chromium(downloads)
    try:
        add_passkey_authenticator(driver)
        sign_in(site, driver, "A1")

        # the lot and the plan, before anything runs
        driver.get(base + "/audit/sampling")
        Select(by_id(driver, "f-unit")).select_by_value("market-001")
        Select(by_id(driver, "f-level")).select_by_value("II")
        by_id(driver, "preview-button").click()
        wait(driver, lambda d: d.find_elements(By.ID, "plan"))
        assert by_id(driver, "plan-lot-size").text == "2"
        assert by_id(driver, "plan-letter").text == "A"
        assert by_id(driver, "plan-sample-size").text == "2"
        assert by_id(driver, "plan-ac-re").text == "0 / 1"
        assert "抽样方案" in driver.page_source
        screenshot(driver, shots, "A1-plan", copies=SHOTS)

        # the job: run by a detached runner, followed by the job page
        by_id(driver, "start-sampling").click()
        wait(driver, lambda d: "/jobs/" in d.current_url and d.find_elements(By.ID,
                                                                              "job-status"))
        wait(driver, lambda d: by_id(d, "job-status").get_attribute("data-status")
              in ("done", "failed", "cancelled", "interrupted"), 120)
        status = by_id(driver, "job-status").get_attribute("data-status")
        assert status == "done", (status, by_id(driver, "job-error").text)
        assert by_id(driver, "job-progress").get_attribute("value") == "100"
        screenshot(driver, shots, "A2-job-done", copies=SHOTS)
        no_csp_violations(driver)
        by_id(driver, "job-result-link").click()

        # the result: the lot rejected, the damaged item with what to do
        wait(driver, lambda d: d.find_elements(By.ID, "lot-verdict"))
        result_url = driver.current_url
        assert by_id(driver, "lot-verdict").get_attribute("data-verdict") == "reject"
        assert by_id(driver, "lot-verdict").text == "批不合格"
        failed = driver.find_element(By.CSS_SELECTOR, f'tr[data-item="{damaged}"]')
        assert failed.get_attribute("data-ok") == "0"
        assert driver.find_element(By.CSS_SELECTOR, f'tr[data-item="{sound}"]'
                                   ).get_attribute("data-ok") == "1"
        problem = driver.find_element(By.CSS_SELECTOR, 'tr[data-problem="digest-mismatch"]')
        assert "摘要值不符" in problem.text and "从副本恢复" in problem.text, problem.text
        assert "custody verify --query" in by_id(driver, "full-check").text
        screenshot(driver, shots, "A3-result", copies=SHOTS)
        driver.execute_script("document.getElementById('sampled-items').scrollIntoView()")
        screenshot(driver, shots, "A3b-result-items", copies=SHOTS)
        no_csp_violations(driver)

        # the draft report, as it will read
        by_id(driver, "draft-report").click()
        wait(driver, lambda d: "抽样检验报告" in d.page_source)
        assert "草稿" in driver.page_source and "批不合格" in driver.page_source
        screenshot(driver, shots, "A4-draft-report", copies=SHOTS)
        driver.get(result_url)

        # signed with the passkey: into the 检查台帐, the signed report issued
        by_id(driver, "sign-report").click()
        wait(driver, lambda d: d.find_elements(By.ID, "filed")
              or by_id(d, "message").text.strip(), 60)
        assert driver.find_elements(By.ID, "filed"), by_id(driver, "message").text
        driver.execute_script("document.getElementById('sampling-report').scrollIntoView()")
        screenshot(driver, shots, "A5-signed", copies=SHOTS)
        by_id(driver, "report-html").click()
        wait(driver, lambda d: "/documents/sampling-report/" in d.current_url)
        assert "抽样检验报告" in driver.page_source and "草稿" not in driver.page_source
        inspection = driver.current_url.rsplit("/", 1)[1]
        screenshot(driver, shots, "A6-report", copies=SHOTS)
        driver.get(result_url)
        by_id(driver, "report-pdf").click()
        pdf = downloaded(downloads, ".pdf")
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000

        # in the 检查台帐
        driver.get(base + "/audit/sampling")
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-inspection="{inspection}"]')
        assert "抽样机读检验" in row.text and "孙审计" in row.text
        screenshot(driver, shots, "A7-ledger", copies=SHOTS)
        no_csp_violations(driver)
    finally:
        driver.quit()

    shown = site_cli(site, "inspections", "show", inspection)
    assert shown["by"] == "A1" and shown["summary"]["failed"] == [damaged]
    assert shown["verdict"]["result"] == "reject"
    audit = site_cli(site, "audit", "verify")
    assert audit["ledger_ok"], audit["problems"]
    assert audit["attested"]["passkey_signed"] >= 1
