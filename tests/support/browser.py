"""A real browser for the console: Debian's chromium driven by Selenium through Debian's
chromedriver (given by path, so nothing downloads a driver), headless, 1366×768, with
WebDriver's virtual authenticator for passkeys; ``custody web`` as a real server process;
screenshots checked not blank."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1366, 768)
ROOT = Path(__file__).resolve().parents[2]
SHOTS_COPY = Path("/tmp/briefs/W2_shots")


def browser_available() -> bool:
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def chromium(downloads: Path | None = None):
    """A headless chromium at 1366×768 (``--no-sandbox``: the tests may run as root) that
    plays media without a click (a test has no user gesture to give) and, with
    ``downloads``, saves what a page sends as an attachment into that folder without
    asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--disable-gpu",
                "--lang=zh-CN", "--no-first-run", "--disable-extensions",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    if downloads is not None:
        downloads.mkdir(parents=True, exist_ok=True)
        options.add_experimental_option("prefs", {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "plugins.always_open_pdf_externally": True,  # a PDF is a file, not a tab
            "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    if downloads is not None:
        # headless chromium may ignore the profile's folder; the DevTools setting it obeys
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True})
    driver.set_window_size(*WINDOW)
    driver.set_page_load_timeout(60)
    return driver


def downloaded(folder: Path, suffix: str, seconds: float = 60) -> Path:
    """The one finished download in ``folder`` whose name ends with ``suffix`` (chromium
    writes ``*.crdownload`` until the last byte is in)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.is_file()]
        partial = list(folder.glob("*.crdownload"))
        if len(done) == 1 and not partial:
            return done[0]
        assert len(done) <= 1, f"more than one download ending {suffix}: {done}"
        time.sleep(0.2)
    raise AssertionError(f"no download ending {suffix} in {folder}: "
                         f"{sorted(p.name for p in folder.iterdir())}")


def add_passkey_authenticator(driver) -> str:
    """A platform authenticator that keeps discoverable credentials and verifies its user."""
    from selenium.webdriver.common.virtual_authenticator import (
        Protocol,
        Transport,
        VirtualAuthenticatorOptions,
    )

    options = VirtualAuthenticatorOptions(
        protocol=Protocol.CTAP2, transport=Transport.INTERNAL, has_resident_key=True,
        has_user_verification=True, is_user_verified=True, is_user_consenting=True)
    driver.add_virtual_authenticator(options)
    return driver.virtual_authenticator_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A running ``custody web``: its base URL, and ``stop()`` (SIGTERM, as systemd does)."""

    def __init__(self, base: str, proc: subprocess.Popen) -> None:
        self.base, self.proc = base, proc

    def stop(self) -> int:
        stop_server(self.proc)
        return self.proc.returncode


@contextmanager
def console_server(env: dict[str, str], port: int, log: Path, scheme: str = "http",
                   cafile: Path | None = None) -> Iterator[Served]:
    """``custody web --port PORT`` as its own process (gunicorn), on http://localhost (or
    https, with [web] cert and key in the config); stopped with SIGTERM at the end (the
    console flushes its journal as it stops)."""
    base = f"{scheme}://localhost:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from cli import main; main()", "web", "--port", str(port),
             "--origin", base],
            cwd=ROOT, env=env | {"PYTHONPATH": str(ROOT)}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_up(base + "/signin", proc, log, cafile)
            yield Served(base, proc)
        finally:
            stop_server(proc)


class PortTaken(AssertionError):
    """Another process took the free port between our look and the server's bind."""


@contextmanager
def console_on_free_port(prepare, log: Path, scheme: str = "http",
                         cafile: Path | None = None, tries: int = 3) -> Iterator[Served]:
    """``console_server`` on a free port; ``prepare(port)`` writes what names the port (the
    config) and returns the server's environment. A port taken by someone else meanwhile
    (other tests run beside these) is given up for another."""
    for attempt in range(tries):
        port = free_port()
        env = prepare(port)
        try:
            server = console_server(env, port, log, scheme, cafile)
            served = server.__enter__()
        except PortTaken:
            if attempt == tries - 1:
                raise
            continue
        try:
            yield served
        finally:
            server.__exit__(None, None, None)
        return


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_up(url: str, proc: subprocess.Popen, log: Path, cafile: Path | None = None,
             seconds: float = 60) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")
            kind = PortTaken if "Address already in use" in text else AssertionError
            raise kind(f"custody web exited ({proc.returncode}):\n" + text[-4000:])
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("custody web did not answer:\n" + log.read_text(errors="replace"))


def distinct_colours(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as im:
        small = im.convert("RGB").resize((341, 192))
        return len(small.getcolors(maxcolors=1 << 17) or ())


def screenshot(driver, folder: Path, name: str, min_colours: int = 8,
               copies: tuple[Path, ...] = (SHOTS_COPY,)) -> Path:
    """The page as a PNG under ``folder`` (and a copy in each of ``copies`` for people to
    look at), checked to be a page and not a blank: its size is the window's and it has more
    than a few colours."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot of {name}"
    from PIL import Image

    with Image.open(path) as im:
        assert im.size[0] >= WINDOW[0] - 20, im.size
    colours = distinct_colours(path)
    assert colours > min_colours, f"{name}: {colours} colours, a blank page?"
    for copy in copies:
        try:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy / path.name)
        except OSError:
            pass  # the copy is for a person to look at; the test's own file is what it checks
    return path


@contextmanager
def console_site(root: Path, setup, extra_config: str = "") -> Iterator[dict]:
    """A data home under ``root`` made through the command line as a bureau makes it
    (``custody init``, then ``setup(mp, settings)``: people, devices, items; ``settings()``
    loads the home's settings, ``mp`` sets the environment for a step), and ``custody web``
    serving it as its own process on a free port. Yields ``{"base", "server", "root",
    "env"}`` with what ``setup`` returned; the local store's locks are released after."""
    import pytest

    from config import settings as settings_mod
    from tests.support.cli import run
    from tests.support.worm import release_all_for_tests

    config = root / "custody.toml"
    server_env: dict[str, str] = {}

    def prepare(port: int) -> dict:  # the invite links name the port: it is in the config
        config.write_text(f'[web]\nport = {port}\norigin = "http://localhost:{port}"\n'
                          + extra_config)
        return server_env

    prepare(8443)
    env = {"HOME": str(root / "user"), "CUSTODY_HOME": str(root / "data"),
           "CUSTODY_CONFIG": str(config), "CUSTODY_TESTING": "1",
           "CUSTODY_TEST_PEOPLE_DIR": str(root / "people")}
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            mp.delenv("CUSTODY_ACT_AS", raising=False)
            run("init")
            made = setup(mp, lambda: settings_mod.load(config, root / "data")) or {}
            server_env.update((k, v) for k, v in os.environ.items() if k != "CUSTODY_LANG")
            with console_on_free_port(prepare, root / "server.log") as served:
                yield {"base": served.base, "server": served, "root": root,
                       "env": env} | made
    finally:
        release_all_for_tests(root)


def wait(driver, condition, seconds: float = 30):
    """``condition(driver)`` true within ``seconds`` (WebDriverWait), or the test fails. An
    element gone stale while the condition reads it means the page is being redrawn (a
    table after a change): look again, as for an element not there yet."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(condition)


def by_id(driver, name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def no_csp_violations(driver) -> None:
    """Nothing the page loaded or ran was refused by the CSP, and no script error."""
    problems = [e["message"] for e in driver.get_log("browser")
                if "Content Security Policy" in e["message"] or "Refused to" in e["message"]
                or "Uncaught" in e["message"]]
    assert not problems, problems


def site_cli(site: dict, *args: str, person: str | None = None, as_json: bool = True,
             code: int = 0):
    """A custody command against the console's archive, in its environment, as ``person``
    (CUSTODY_ACT_AS) or as the account that made the home; its JSON (or the result)."""
    import pytest

    from tests.support.cli import run, run_json

    with pytest.MonkeyPatch.context() as mp:
        for k, v in site["env"].items():
            mp.setenv(k, v)
        if person:
            mp.setenv("CUSTODY_ACT_AS", person)
        else:
            mp.delenv("CUSTODY_ACT_AS", raising=False)
        return run_json(*args, code=code) if as_json else run(*args, code=code)


def sign_in(site: dict, driver, person: str) -> None:
    """Enroll ``person``'s passkey in ``driver`` by an invite link, have the administrator
    confirm it at the command line, and sign in: the path every person takes."""
    invite = site_cli(site, "people", "invite", person)
    driver.get(invite["link"])
    by_id(driver, "enroll-button").click()
    wait(driver, lambda d: d.current_url.endswith("/enrolled"))
    pending = site_cli(site, "people", "passkeys", person)["passkeys"]
    site_cli(site, "people", "confirm-passkey", person, pending[0]["credential_id"])
    driver.get(site["base"] + "/signin")
    by_id(driver, "signin-button").click()
    wait(driver, lambda d: "/search" in d.current_url)


def person_browser(site: dict, person: str, downloads: Path | None = None):
    """A browser of ``person``'s own, with its own virtual authenticator, signed in."""
    driver = chromium(downloads)
    add_passkey_authenticator(driver)
    sign_in(site, driver, person)
    return driver
