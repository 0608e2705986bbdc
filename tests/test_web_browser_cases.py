"""Cases and flags in a real browser (chromium headless, ``custody web`` under gunicorn,
WebDriver's virtual authenticators): the archivist imports a small case register (uploaded,
checked, signed), links an item found by its party, closes the case and flags the item; the
approver, in another browser with their own passkey, ticks "我已知晓" and confirms the
permanent lock; ``custody audit verify`` is clean. Screenshots of each page (copies in
/tmp/briefs/D_shots)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.browser import (
    browser_available,
    by_id,
    console_site,
    no_csp_violations,
    person_browser,
    screenshot,
    site_cli,
    wait,
)
from tests.support.cli import run

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="chromium and chromedriver are not installed")

SHOTS = (Path("/tmp/briefs/D_shots"),)
PARTY = "王五"


def _item(settings) -> str:
    """One recording of market-001 (random bytes: nothing here plays it)."""
    import bootstrap
    from archive import people
    from archive.domain.model import Description
    from archive.passkeys.service import attach

    archive = attach(bootstrap.open_archive(settings), settings.home)
    start = datetime.now(timezone.utc) - timedelta(days=2)
    d = Description(kind="video", unit="market-001", device_id="DSJ-0042", officers=["O1"],
                    recorded_start=start, recorded_end=start + timedelta(minutes=8),
                    party=PARTY, cause="无照经营", activity_type="调查取证")
    try:
        return archive.archive_stream([os.urandom(30_000)], d, people.identify(archive),
                                      start + timedelta(days=60)).item.id
    finally:
        archive.finish_command()
        archive.catalog.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A data home with an archivist (A1) and an approver (B1), one item, and the console."""

    def setup(mp, settings) -> dict:
        run("people", "add", "A1", "--name", "陈档案", "--role", "archivist")
        run("people", "add", "B1", "--name", "刘审批", "--role", "approver")
        return {"item": _item(settings())}

    with console_site(tmp_path_factory.mktemp("cases-console"), setup) as site:
        yield site


def _sign(driver, button: str, done) -> None:
    """Press a signed form's button and wait for the page the decision leads to (the
    form's message says why if it was refused)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By

    by_id(driver, button).click()

    def finished(d):
        try:  # the page may change under the look: look again
            said = [m.text for m in d.find_elements(By.CSS_SELECTOR, "form.signed .message")
                    if m.text.strip()]
            assert not said, said
            return done(d)
        except (StaleElementReferenceException, WebDriverException):
            # chromium also says "Node with given id does not belong to the document"
            # for an element of the page being left (seen once in CI): look again
            return False
    wait(driver, finished, 30)


def test_cases_and_flags_in_a_real_browser(site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots, base, item = tmp_path / "shots", site["base"], site["item"]
    archivist = person_browser(site, "A1")
    approver = None
    try:
        # the register: uploaded, checked (nothing written yet), signed
        register = tmp_path / "案件登记.csv"
        register.write_text("id,type,unit,opened,closed,filing_year,activities\n"
                            "市监罚〔2026〕12号,general,market-001,2026-01-05,,,调查取证\n",
                            encoding="utf-8")
        archivist.get(base + "/archivist/cases/import")
        assert "1 MiB" in by_id(archivist, "upload-limits").text
        screenshot(archivist, shots, "cases-1-import", copies=SHOTS)
        by_id(archivist, "register-file").send_keys(str(register))
        by_id(archivist, "check-register").click()
        wait(archivist, lambda d: d.find_elements(By.ID, "register-rows"))
        assert "市场监督管理局执法大队" in by_id(archivist, "register-rows").text
        assert by_id(archivist, "register-ok").is_displayed()
        screenshot(archivist, shots, "cases-2-checked", copies=SHOTS)
        _sign(archivist, "sign-import", lambda d: d.find_elements(By.ID, "imported"))
        assert "市监罚〔2026〕12号" in by_id(archivist, "cases").text
        screenshot(archivist, shots, "cases-3-register", copies=SHOTS)

        # link the item found by its party, then close the case
        archivist.find_element(By.LINK_TEXT, "市监罚〔2026〕12号").click()
        wait(archivist, lambda d: d.find_elements(By.ID, "find-items"))
        by_id(archivist, "find-items").send_keys(PARTY)
        by_id(archivist, "find-button").click()
        wait(archivist, lambda d: d.find_elements(By.ID, "found-items"))
        assert PARTY in by_id(archivist, "found-items").text
        screenshot(archivist, shots, "cases-4-link", copies=SHOTS)
        _sign(archivist, "sign-link", lambda d: d.find_elements(By.ID, "case-items"))
        assert PARTY in by_id(archivist, "case-items").text
        _sign(archivist, "sign-close",
              lambda d: by_id(d, "case-state").get_attribute("data-closed"))
        assert "结案" in by_id(archivist, "case-state").text
        screenshot(archivist, shots, "cases-5-closed", copies=SHOTS)
        no_csp_violations(archivist)

        # a flag on the item, raised by the archivist
        archivist.get(base + f"/archivist/flags/new?item={item}")
        Select(by_id(archivist, "flag-reason")).select_by_value("obstruction")
        by_id(archivist, "flag-note").send_keys("当事人阻挠现场取证")
        screenshot(archivist, shots, "flags-1-raise", copies=SHOTS)
        _sign(archivist, "sign-flag", lambda d: d.find_elements(By.ID, "flag-state"))
        flag_url = archivist.current_url
        assert by_id(archivist, "flag-state").get_attribute("data-state") == "unconfirmed"
        assert not archivist.find_elements(By.ID, "confirm-form")  # not the approver
        no_csp_violations(archivist)

        # the approver, in their own browser: the plain warning, the tick box, the passkey
        approver = person_browser(site, "B1")
        approver.get(base + "/archivist/flags")
        assert "阻碍执法" in by_id(approver, "flags").text
        screenshot(approver, shots, "flags-2-list", copies=SHOTS)
        approver.get(flag_url)
        warning = by_id(approver, "permanent-warning").text
        assert "永远不能撤销" in warning and "陈档案" in warning
        assert PARTY in by_id(approver, "flag-items").text
        assert by_id(approver, "understood").get_attribute("required") is not None
        # not ticked: the browser itself keeps the form from being sent
        by_id(approver, "sign-confirm").click()
        assert by_id(approver, "flag-state").get_attribute("data-state") == "unconfirmed"
        by_id(approver, "understood").click()
        screenshot(approver, shots, "flags-3-confirm", copies=SHOTS)
        _sign(approver, "sign-confirm", lambda d: by_id(d, "flag-state").get_attribute(
            "data-state") == "confirmed")
        assert "刘审批" in by_id(approver, "flag-confirmed-by").text
        assert "永远不能撤销" in by_id(approver, "flag-permanent").text
        screenshot(approver, shots, "flags-4-confirmed", copies=SHOTS)
        no_csp_violations(approver)
    finally:
        archivist.quit()
        if approver is not None:
            approver.quit()

    assert site["server"].stop() == 0
    verify = site_cli(site, "audit", "verify")
    assert verify["ok"] and not verify["problems"], verify
    assert verify["attested"]["passkey_signed"] >= 5
    shown = site_cli(site, "show", item)
    assert shown["tier"] == "permanent"
