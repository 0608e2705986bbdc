"""The console in a real browser: Debian's chromium, headless at 1366×768, against ``custody
web`` served by gunicorn as its own process on http://localhost, passkeys made and used by
WebDriver's virtual authenticator. The journey: invite (CLI) → enroll in the browser →
administrator confirms (CLI) → sign in → search → item page → an extract request → a second
person approves with their own passkey in their own browser → the requester sees it approved
→ plays the recording in the player (it plays, a seek lands, the overlay names them) →
makes the export in a background job, downloads the ZIP and the signed 提取说明 (a valid bag
whose payload is the archived bytes, and ``custody verify-export`` passes) → the register
shows the view and the export → ``custody audit verify`` clean. Each page is saved as a
screenshot and checked not blank (copies in /tmp/briefs/W2_shots and W4_shots for people to
look at)."""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.browser import SHOTS_COPY as W2_SHOTS
from tests.support.browser import (
    add_passkey_authenticator,
    browser_available,
    chromium,
    console_on_free_port,
    downloaded,
    screenshot,
)
from tests.support.cli import run, run_json
from tests.support.media import FORMATS, make_playable_mp4
from tests.support.worm import release_all_for_tests

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="chromium and chromedriver are not installed")

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)  # 09:30 in Asia/Shanghai
HIDDEN_PARTY = "钱七"
PLAYED = "王五"  # the recording the requester plays and exports: a real H.264 + AAC video
SHOTS_TOO = (W2_SHOTS, Path("/tmp/briefs/W4_shots"))


def _items(settings, video: Path) -> dict[str, str]:
    """Three recordings of market-001 (approved by 法制股), one of them personal-privacy; the
    first is ``video`` with the format check ingest records for it (so the console plays it),
    the others random bytes."""
    import bootstrap
    from archive import people
    from archive.domain.model import Description
    from archive.passkeys.service import attach

    archive = attach(bootstrap.open_archive(settings), settings.home)
    actor = people.identify(archive)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    out = {}
    try:
        for n, (party, conf) in enumerate((("王五", None), ("赵六", None),
                                           (HIDDEN_PARTY, "personal-privacy"))):
            d = Description(kind="video", unit="market-001", device_id="DSJ-0042",
                            officers=["O1"], recorded_start=T0 + timedelta(hours=n),
                            recorded_end=T0 + timedelta(hours=n, minutes=12), party=party,
                            cause="无照经营", confidential=conf, activity_type="调查取证",
                            source={"original_name": f"DSJ-0042/{party}.mp4"})
            if party == PLAYED:
                body, checks = video.read_bytes(), {"format": dict(FORMATS[".mp4"][1])}
            else:
                body, checks = os.urandom(50_000), None
            out[party] = archive.archive_stream([body], d, actor, until, checks=checks).item.id
    finally:
        archive.finish_command()
        archive.catalog.close()
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A data home with an administrator, an officer (the requester) and a legal officer
    (法制股, the approver), three items, and ``custody web`` serving it."""
    from config import settings as settings_mod

    root = tmp_path_factory.mktemp("console")
    config = root / "custody.toml"

    server_env: dict[str, str] = {}

    def prepare(port: int) -> dict:  # the invite links name the port: it is in the config
        config.write_text(f'[web]\nport = {port}\norigin = "http://localhost:{port}"\n')
        return server_env

    prepare(8443)
    env = {"HOME": str(root / "user"), "CUSTODY_HOME": str(root / "data"),
           "CUSTODY_CONFIG": str(config), "CUSTODY_TESTING": "1",
           "CUSTODY_TEST_PEOPLE_DIR": str(root / "people")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("CUSTODY_ACT_AS", raising=False)
        run("init")
        run("people", "add", "O1", "--name", "王建国", "--role", "officer")
        run("people", "add", "L1", "--name", "李法制", "--role", "legal", "--position", "法制股",
            "--clearance", "personal-privacy")
        video = make_playable_mp4(root / "recording.mp4")
        items = _items(settings_mod.load(config, root / "data"), video)
        server_env.update((k, v) for k, v in os.environ.items() if k != "CUSTODY_LANG")
        with console_on_free_port(prepare, root / "server.log") as served:
            yield {"base": served.base, "server": served, "root": root, "items": items,
                   "env": env, "video": video}
    release_all_for_tests(root)


@pytest.fixture(scope="module")
def browsers():
    """Two people, two browsers, each with its own virtual authenticator."""
    made = []

    def open_one(downloads: Path | None = None):
        driver = chromium(downloads)
        add_passkey_authenticator(driver)
        made.append(driver)
        return driver

    yield open_one
    for driver in made:
        driver.quit()


def _wait(driver, condition, seconds: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def _by_id(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def _cli(site, *args: str, as_json: bool = False):
    with pytest.MonkeyPatch.context() as mp:
        for k, v in site["env"].items():
            mp.setenv(k, v)
        return run_json(*args) if as_json else run(*args)


def _no_csp_violations(driver) -> None:
    """Nothing the page tried was blocked by the CSP (a refused sign-in's 401 is expected)."""
    problems = [e["message"] for e in driver.get_log("browser")
                if "Content Security Policy" in e["message"] or "Refused to" in e["message"]
                or "Uncaught" in e["message"]]
    assert not problems, problems


def _ledger(site) -> list:
    import bootstrap
    from config import settings as settings_mod

    settings = settings_mod.load(site["env"]["CUSTODY_CONFIG"], Path(site["env"]["CUSTODY_HOME"]))
    catalog = bootstrap.open_catalog(settings)
    try:
        return list(catalog.ledger_entries(1))
    finally:
        catalog.close()


def _enroll_and_sign_in(site, driver, person: str, shots: Path, prefix: str) -> None:
    invite = _cli(site, "people", "invite", person, as_json=True)
    site.setdefault("tokens", []).append(invite["token"])
    assert invite["link"].startswith(site["base"] + "/invite/")
    driver.get(invite["link"])
    _by_id(driver, "enroll-button").click()
    _wait(driver, lambda d: d.current_url.endswith("/enrolled"))
    assert "等待管理员确认" in driver.page_source
    screenshot(driver, shots, f"{prefix}-1-enrolled")
    pending = _cli(site, "people", "passkeys", person, as_json=True)["passkeys"]
    assert [p["status"] for p in pending] == ["pending"]
    # not yet confirmed: the passkey does not sign in
    driver.get(site["base"] + "/signin")
    _by_id(driver, "signin-button").click()
    _wait(driver, lambda d: _by_id(d, "message").text.strip() != "")
    _cli(site, "people", "confirm-passkey", person, pending[0]["credential_id"])
    driver.get(site["base"] + "/signin")
    screenshot(driver, shots, f"{prefix}-2-signin")
    _by_id(driver, "signin-button").click()
    _wait(driver, lambda d: "/search" in d.current_url)
    _no_csp_violations(driver)


def _media_time(driver) -> float:
    return driver.execute_script("return document.getElementById('player').currentTime")


def _play_and_seek(site, driver, shots: Path) -> None:
    """From the item page to the player: one registered view; the video plays (its clock
    advances), a seek to 7 s lands there, and the overlay names the viewer."""
    from selenium.webdriver.common.by import By

    driver.get(site["base"] + f"/items/{site['items'][PLAYED]}")
    _by_id(driver, "view-item").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "open-view"))
    screenshot(driver, shots, "10a-view-start", copies=SHOTS_TOO)
    _by_id(driver, "open-view").click()
    _wait(driver, lambda d: "/media/playback/" in d.current_url)
    site["playback"] = driver.current_url
    player = _by_id(driver, "player")
    assert player.tag_name == "video"
    overlay = _by_id(driver, "overlay-viewer").text
    assert "王建国" in overlay and "O1" in overlay
    clock = _by_id(driver, "overlay-time").text
    assert clock[:4].isdigit() and clock.count(":") == 2, clock
    # the autoplay flag lets a script start it; the page itself waits for the viewer's click
    driver.execute_script("document.getElementById('player').play()")
    _wait(driver, lambda d: _media_time(d) > 1.0, 30)
    assert driver.execute_script("return document.getElementById('player').paused") is False
    assert driver.execute_script(
        "return document.getElementById('player').videoWidth") == 320  # frames decoded
    screenshot(driver, shots, "10b-player", copies=SHOTS_TOO)
    ticking = _by_id(driver, "overlay-time").text
    assert ticking != clock  # the overlay clock runs
    # ... on the same clock as the page's other times (the unit's zone, not the browser's)
    opened = datetime.strptime(_by_id(driver, "opened").text, "%Y-%m-%d %H:%M:%S")
    shown = datetime.strptime(ticking, "%Y-%m-%d %H:%M:%S")
    assert timedelta(0) <= shown - opened < timedelta(minutes=2), (opened, shown)
    driver.execute_script("document.getElementById('player').currentTime = 7")
    _wait(driver, lambda d: _media_time(d) >= 7 and not d.execute_script(
        "return document.getElementById('player').seeking"), 30)
    landed = _media_time(driver)
    assert 7 <= landed < 10, landed
    time.sleep(1)
    assert _media_time(driver) > landed  # still playing after the seek
    screenshot(driver, shots, "10c-player-seeked", copies=SHOTS_TOO)
    _no_csp_violations(driver)


def _bag_files(folder: Path, zip_path: Path) -> Path:
    """The ZIP unpacked: its one top folder, the bag."""
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.testzip() is None
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
        assert len(tops) == 1, tops
        zf.extractall(folder)
    return folder / tops.pop()


def _export_and_download(site, driver, request_url: str, tmp_path: Path, shots: Path) -> None:
    """The approved extract request's export, made by a background job while the page
    follows it; the ZIP and the 提取说明 downloaded by the browser itself."""
    import bagit
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    driver.get(request_url)
    _by_id(driver, "export-request").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "start-export"))
    assert _by_id(driver, "exports-left").text == "1"
    screenshot(driver, shots, "10d-export-form", copies=SHOTS_TOO)
    _by_id(driver, "start-export").click()
    _wait(driver, lambda d: "/jobs/" in d.current_url and d.find_elements(By.ID, "job-status"))
    job_id = driver.current_url.rsplit("/", 1)[1]
    # the page follows the job by itself (jobs.js), no reload
    _wait(driver, lambda d: _by_id(d, "job-status").get_attribute("data-status")
          in ("done", "failed", "cancelled", "interrupted"), 180)
    status = _by_id(driver, "job-status").get_attribute("data-status")
    assert status == "done", (status, _by_id(driver, "job-error").text)
    assert _by_id(driver, "job-result").is_displayed()
    assert _by_id(driver, "job-progress").get_attribute("value") == "100"
    # only what the job made is offered (no ISO was asked for), and nothing to cancel
    assert _by_id(driver, "download-statement").is_displayed()
    assert not _by_id(driver, "download-iso").is_displayed()
    assert not _by_id(driver, "cancel-job").is_displayed()
    screenshot(driver, shots, "10e-job-done", copies=SHOTS_TOO)
    _no_csp_violations(driver)

    assert not list(downloads.glob("*")), "nothing downloaded before the clicks"
    _by_id(driver, "download-zip").click()
    package = downloaded(downloads, ".zip")
    _by_id(driver, "download-statement").click()
    statement = downloaded(downloads, ".pdf")
    assert statement.name == f"{package.stem}-statement.pdf"  # named for the one package
    assert statement.read_bytes()[:5] == b"%PDF-" and statement.stat().st_size > 1000

    bag_dir = _bag_files(tmp_path / "unzipped", package)
    assert bag_dir.name == package.stem
    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # every payload file against the bag's own manifests
    video_sha = hashlib.sha256(site["video"].read_bytes()).hexdigest()
    payload = {p: d["sha256"] for p, d in bag.entries.items()
               if p.startswith("data/") and p.endswith(".mp4")}
    item = site["items"][PLAYED]
    assert list(payload.values()) == [video_sha], payload
    assert next(iter(payload)).startswith(f"data/{item}/")
    stored = _cli(site, "show", item, as_json=True)
    assert stored["sha256"] == video_sha  # the archived file's digest, as the archive has it
    fingerprint = _cli(site, "key", "list", as_json=True)["keys"][0]["fingerprint"]
    verdict = _cli(site, "verify-export", str(bag_dir), "--fingerprint", fingerprint,
                   as_json=True)
    assert verdict["ok"] and verdict["items"] == 1 and verdict["extractor"] == "O1", verdict
    site["job"] = job_id


def _register_rows(driver, url: str) -> list[list[str]]:
    """The register page's rows, as the cells' texts."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    return [[c.text for c in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#register tbody tr")]


def _item_id(cell: str) -> str:
    """The item's id in a register cell that reads 题名（id）."""
    return cell.rsplit("（", 1)[-1].rstrip("）") if cell.endswith("）") else cell


def _register_shows_view_and_export(site, driver, request_id: str, shots: Path) -> None:
    """The requester's rows in the register: the view in the player and the export, both
    under the approved request."""
    rows = _register_rows(driver, site["base"] + "/register?person=O1")
    item = site["items"][PLAYED]
    mine = sorted((r[6], r[7]) for r in rows if _item_id(r[5]) == item and r[4] == request_id)
    assert all(r[5].startswith("2026年3月2日") for r in rows if _item_id(r[5]) == item), rows
    assert [how for how, _ in mine] == ["提取拷贝", "浏览器播放"], rows  # names, not codes
    assert dict(mine)["提取拷贝"] == "已提取", rows
    assert all(r[1] == "王建国（O1）" for r in rows), rows
    assert all(r[3] == "李法制（L1）" for r in rows if r[4] == request_id), rows
    screenshot(driver, shots, "10f-register-mine", copies=SHOTS_TOO)


def _refusal(driver) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.ID, "refusal")
    assert found, driver.page_source[:2000]
    return found[0].get_attribute("data-code")


def _others_refused(site, driver, shots: Path) -> None:
    """The approver, signed in as themselves: the requester's player, job and package are
    not theirs, and approving a request gives them no view of their own; the refused view
    attempts are in the register under their name."""
    from selenium.webdriver.common.by import By

    base, item = site["base"], site["items"][PLAYED]
    driver.get(site["playback"])
    assert _refusal(driver) == "access-refused"
    assert not driver.find_elements(By.ID, "player")
    screenshot(driver, shots, "10g-refused-playback", copies=SHOTS_TOO)
    for path in (f"/jobs/{site['job']}", f"/jobs/{site['job']}/package.zip",
                 f"/jobs/{site['job']}/statement.pdf"):
        driver.get(base + path)
        assert _refusal(driver) == "job-refused", path
    driver.get(base + f"/media/{item}")
    _by_id(driver, "open-view").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "refusal"))
    assert _refusal(driver) == "access-refused"
    assert not driver.find_elements(By.ID, "player")
    rows = _register_rows(driver, base + "/register?person=L1&outcome=refused")
    refused = ("李法制（L1）", item, "查看", "拒绝")
    assert [(r[1], _item_id(r[5]), r[6], r[7]) for r in rows] == [refused] * 2, rows
    assert "O1" in rows[0][2]  # the other person's view, named in the reason


def test_the_journey_in_a_real_browser(site, browsers, tmp_path):
    from selenium.webdriver.common.by import By

    shots = tmp_path / "shots"
    base, items = site["base"], site["items"]
    officer = browsers(tmp_path / "downloads")
    driver = officer
    driver.get(base + "/search")
    assert "/signin" in driver.current_url  # nothing without a session
    _enroll_and_sign_in(site, officer, "O1", shots, "01-officer")
    assert "王建国" in _by_id(officer, "person-name").text

    # search by party substring and by local time: 09:30 Beijing time is 01:30 UTC
    _by_id(officer, "f-party").send_keys("王五")
    _by_id(officer, "search-button").click()
    _wait(officer, lambda d: d.find_elements(By.ID, "results"))
    assert items["王五"] in officer.page_source and items["赵六"] not in officer.page_source
    screenshot(officer, shots, "02-search-party")
    officer.get(base + "/search?unit=market-001&from=2026-03-02T09:00&to=2026-03-02T10:00")
    assert items["王五"] in officer.page_source and items["赵六"] not in officer.page_source
    officer.get(base + "/search?unit=market-001")
    html = officer.page_source
    assert all(i in html for i in items.values())
    assert HIDDEN_PARTY not in html  # the officer holds no personal-privacy clearance
    screenshot(officer, shots, "03-search-unit")

    # the item page, and the lock read from the store on request
    officer.find_element(By.CSS_SELECTOR, f'a[href="/items/{items["王五"]}"]').click()
    _wait(officer, lambda d: d.find_elements(By.ID, "item-title"))
    assert "王五" in _by_id(officer, "item-title").text
    assert _by_id(officer, "signature").get_attribute("class") == "ok"
    _by_id(officer, "read-lock").click()
    _wait(officer, lambda d: d.find_elements(By.ID, "lock-in-store"))
    assert "LOCAL-WORM" in _by_id(officer, "lock-in-store").text or \
        _by_id(officer, "lock-in-store").text not in ("", "—")
    screenshot(officer, shots, "04-item")
    officer.get(base + f"/items/{items[HIDDEN_PARTY]}")
    assert HIDDEN_PARTY not in officer.page_source and "***" in officer.page_source

    # the request
    officer.get(base + f"/items/{items['王五']}")
    _by_id(officer, "request-item").click()
    _wait(officer, lambda d: d.find_elements(By.ID, "request-form"))
    _by_id(officer, "f-reason").send_keys("行政复议答复需调阅现场执法记录")
    _by_id(officer, "purpose-extract").click()  # an extract's approval covers viewing too
    screenshot(officer, shots, "05-request-form")
    _by_id(officer, "submit-request").click()
    _wait(officer, lambda d: d.find_elements(By.ID, "request-status"))
    status = _by_id(officer, "request-status")
    assert status.get_attribute("data-status") == "pending"
    request_url = officer.current_url
    request_id = request_url.rsplit("/", 1)[1]
    screenshot(officer, shots, "06-request-pending")

    # the approver, in their own browser with their own passkey
    legal = browsers()
    _enroll_and_sign_in(site, legal, "L1", shots, "07-approver")
    assert _by_id(legal, "waiting-count").text == "1"
    _by_id(legal, "todo-link").click()
    _wait(legal, lambda d: d.find_elements(By.ID, "requests"))
    assert request_id[:13] in legal.page_source
    screenshot(legal, shots, "08-todo")
    legal.get(request_url)
    _by_id(legal, "decision-note").send_keys("同意调阅")
    screenshot(legal, shots, "09-decide")
    _by_id(legal, "approve-button").click()
    _wait(legal, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-status="approved"]'))
    assert _by_id(legal, "waiting-count").text == "0"
    _no_csp_violations(legal)

    # the requester sees the outcome
    officer.get(request_url)
    assert _by_id(officer, "request-status").get_attribute("data-status") == "approved"
    assert "李法制" in _by_id(officer, "decided-by").text
    screenshot(officer, shots, "10-request-approved")

    # the requester plays the recording, then exports it and downloads the package
    _play_and_seek(site, officer, shots)
    _export_and_download(site, officer, request_url, tmp_path, shots)
    _register_shows_view_and_export(site, officer, request_id, shots)
    _others_refused(site, legal, shots)

    # the register, and the printable 调阅登记 (issued by the legal officer)
    legal.get(base + "/register")
    screenshot(legal, shots, "11-register")
    _by_id(legal, "print-register").click()
    _wait(legal, lambda d: "/documents/access-register/" in d.current_url, 60)
    assert "调阅登记" in legal.page_source
    assert "浏览器播放" in legal.page_source and "提取拷贝" in legal.page_source
    screenshot(legal, shots, "12-register-document")
    _no_csp_violations(legal)

    # sign out: the session is gone
    _by_id(officer, "signout").click()
    _wait(officer, lambda d: "/signin" in d.current_url)
    officer.get(request_url)
    assert "/signin" in officer.current_url

    # the ledger verifies: passkey-signed decisions and console-attested entries, with the
    # console's last entries checkpointed as it stops
    before = _cli(site, "audit", "verify", as_json=True)
    assert site["server"].stop() == 0
    verify = _cli(site, "audit", "verify", as_json=True)
    assert verify["ok"] and not verify["problems"], verify
    assert verify["checkpoints"] > before["checkpoints"]
    assert verify["attested"]["passkey_signed"] >= 1
    assert verify["attested"]["console_attested"] >= 2  # the sign-ins at least
    log = (site["root"] / "server.log").read_text()
    assert "/invite/" in log and not any(t in log for t in site["tokens"])  # not logged
    approved = [e for e in _ledger(site) if e.action == "access-approved"]
    assert [(e.actor, e.subject) for e in approved] == [("L1", request_id)]
    assert approved[0].details["console"]["webauthn"]["rp_id"] == "localhost"
    # the two downloads, each in the ledger for the requester and attested by the console
    fetched = [e for e in _ledger(site) if e.action == "export-downloaded"]
    assert sorted(e.details["form"] for e in fetched) == ["statement", "zip"]
    assert {(e.actor, e.subject, e.details["job"]) for e in fetched} == {
        ("O1", request_id, site["job"])}
    officer_key = _cli(site, "people", "passkeys", "O1", as_json=True)["passkeys"][0]
    assert {e.details["console"]["session"]["credential_id"] for e in fetched} == {
        officer_key["credential_id"]}  # the officer's sign-in, not the approver's
