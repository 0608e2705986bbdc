"""The archivist's year in a real browser (Debian's chromium, headless, against ``custody
web`` served by gunicorn): a day's offload ingested at the command line through the real
clamd -- a recording whose camera names no officer (stored, pending metadata) and an
EICAR-infected file (quarantined) -- then the archivist enrolls, opens the year's cycle (the
pending item holds up the handover), follows the blocker to the pending queue, completes the
item in its form and signs with the passkey, and sees the blocker gone; the quarantine page
shows the infected file and its report. ``custody audit verify`` is clean after. Each page is
saved as a screenshot, checked not blank, with copies in /tmp/briefs/C_shots."""

from __future__ import annotations

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
from tests.support.clamd import EICAR
from tests.support.cli import run, run_json
from tests.support.corpus import make_mp4

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="chromium and chromedriver are not installed")

SHOTS = (Path("/tmp/briefs/C_shots"),)
YEAR = 2025
CLIP = "DSJ-0500_20250315_090000_0001.MP4"


@pytest.fixture(scope="module")
def site(tmp_path_factory, clamd_scanner):
    """A data home with archivist A1 and officer O1, a camera of market-001 registered
    without its officer, one offload ingested, and ``custody web`` serving it."""
    root = tmp_path_factory.mktemp("archivist")

    def setup(mp, settings) -> dict:
        run("people", "add", "A1", "--name", "陈档案", "--role", "archivist")
        run("people", "add", "O1", "--name", "王建国", "--role", "officer")
        run("devices", "add", "DSJ-0500", "--model", "X9", "--clock", "local",
            "--unit", "market-001")
        offload = root / "offload"
        offload.mkdir()
        make_mp4(offload / CLIP, 1, creation_time="2025-03-15T09:00:00Z")
        (offload / "bad.com").write_bytes(EICAR)
        out = run_json("ingest", str(offload), "--station", "ST-01", code=1)
        states = {f["file"]: f["state"] for f in out["files"]}
        assert states == {CLIP: "archived-pending-metadata", "bad.com": "quarantined"}
        pending = run_json("pending")["items"]
        assert len(pending) == 1
        return {"item": pending[0]["id"], "batch": out["batch_id"]}

    scanner = f'[scanner]\nsocket = "{clamd_scanner.socket_path}"\n'
    with console_site(root, setup, scanner) as site:
        yield site


def _count(driver, blocker: str) -> int | None:
    """The count the cycle page shows for ``blocker``; None when it is not listed."""
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-blocker="{blocker}"] td.count-cell')
    return int(rows[0].get_attribute("data-count")) if rows else None


def _show(driver, element_id: str) -> None:
    """Scroll the page to an element (for the screenshot of that part)."""
    driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", element_id)


def test_pending_to_complete_and_the_quarantine_in_a_real_browser(site, tmp_path):
    from selenium.webdriver.common.by import By

    shots, base = tmp_path / "shots", site["base"]
    driver = chromium()
    try:
        add_passkey_authenticator(driver)
        sign_in(site, driver, "A1")

        # the year at a glance: the pending item holds up the handover
        driver.get(base + f"/archivist/cycle?year={YEAR}")
        assert by_id(driver, "phase").get_attribute("data-phase") == "handover-due"
        assert _count(driver, "pending-metadata") == 1
        assert driver.find_elements(By.CSS_SELECTOR, 'tr[data-deadline="handover"]')
        screenshot(driver, shots, "C1-cycle", copies=SHOTS)
        _show(driver, "blockers")
        screenshot(driver, shots, "C1b-cycle-blockers", copies=SHOTS)
        driver.find_element(By.CSS_SELECTOR, f'a[href="/archivist/cycle/{YEAR}/'
                                             'pending-metadata"]').click()
        wait(driver, lambda d: d.find_elements(By.ID, "blocker-items"))
        assert site["item"] in driver.page_source
        screenshot(driver, shots, "C2-blocker-items", copies=SHOTS)

        # the action that clears it: the queue, the form, the check, the passkey
        driver.find_element(By.CSS_SELECTOR, 'a.button[href="/archivist/pending"]').click()
        wait(driver, lambda d: d.find_elements(By.ID, "pending-items"))
        screenshot(driver, shots, "C3-pending-queue", copies=SHOTS)
        driver.find_element(By.CSS_SELECTOR,
                            f'a[href="/archivist/pending/{site["item"]}"]').click()
        wait(driver, lambda d: d.find_elements(By.ID, "complete-form"))
        assert "DSJ-0500" in driver.page_source
        by_id(driver, "f-officer_id").send_keys("O1")
        by_id(driver, "check-button").click()
        wait(driver, lambda d: d.find_elements(By.ID, "changes"))
        assert "王建国" in by_id(driver, "changes").text
        assert by_id(driver, "new-status").get_attribute("data-status") == "archived"
        _show(driver, "preview")
        screenshot(driver, shots, "C4-pending-preview", copies=SHOTS)
        by_id(driver, "sign-button").click()
        wait(driver, lambda d: d.find_elements(By.ID, "completed"), 30)
        assert site["item"] in by_id(driver, "completed").text
        assert not driver.find_elements(By.CSS_SELECTOR, f'tr[data-item="{site["item"]}"]')
        screenshot(driver, shots, "C5-pending-done", copies=SHOTS)
        shown = site_cli(site, "show", site["item"])
        assert shown["version"] == 2 and shown["status"] == "archived"

        # the blocker count dropped
        driver.get(base + f"/archivist/cycle?year={YEAR}")
        assert _count(driver, "pending-metadata") is None
        screenshot(driver, shots, "C6-cycle-after", copies=SHOTS)

        # the quarantine: the infected file with its report
        driver.get(base + "/archivist/quarantine")
        table = by_id(driver, "quarantined").text
        assert "bad.com" in table and "EICAR" in table
        screenshot(driver, shots, "C7-quarantine", copies=SHOTS)
        driver.find_element(By.CSS_SELECTOR, '#quarantined a').click()
        wait(driver, lambda d: d.find_elements(By.ID, "entry-report"))
        assert site["batch"] in driver.page_source and "ClamAV" in driver.page_source
        screenshot(driver, shots, "C8-quarantine-entry", copies=SHOTS)
        batch_link = f'a[href="/archivist/batches/{site["batch"]}"]'
        driver.find_element(By.CSS_SELECTOR, batch_link).click()
        wait(driver, lambda d: d.find_elements(By.ID, "batch-report"))
        assert "bad.com" in by_id(driver, "batch-files").text
        screenshot(driver, shots, "C9-batch", copies=SHOTS)
        no_csp_violations(driver)
    finally:
        driver.quit()
    audit = site_cli(site, "audit", "verify")
    assert audit["ok"], audit["problems"]
    # the completion is the archivist's own, signed with the passkey (not console-attested)
    entry = [e for e in _ledger(site) if e.action == "metadata-version"][-1]
    assert entry.actor == "A1" and entry.subject == site["item"]
    assert {"credential_id", "signature"} <= set(entry.details["console"]["webauthn"])


def _ledger(site) -> list:
    import bootstrap
    from config import settings as settings_mod

    settings = settings_mod.load(site["env"]["CUSTODY_CONFIG"], Path(site["env"]["CUSTODY_HOME"]))
    catalog = bootstrap.open_catalog(settings)
    try:
        return list(catalog.ledger_entries(1))
    finally:
        catalog.close()
