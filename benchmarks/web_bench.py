"""Web console benchmark (issue 15): the search page's server time at archive scale, and the
time to the first video frame of a 2 GiB recording, through the console's own endpoints.

    python benchmarks/web_bench.py [--items N] [--video-gib G] [--requests R] [--dir DIR]
                                   [--json]

Prints figures; asserts nothing (timing belongs in no test). A fresh data home under
``--dir`` (default ``$TMPDIR``) gets an archive (``bootstrap.create_archive``), people, and
``--items`` catalog items made by ``catalog_bench.ItemFactory`` (the same seed, so the same
items); the items of years whose annual cycle is over get a 档号 as the cycle leaves them. The
console is the app the tests make (``tests/support/console.py``): one person enrolls a
software passkey and signs in, and every request goes through Flask's test client. The
figures are therefore server time: no network, no TLS, no browser rendering.

The recording is ``--video-gib`` GiB of random bytes (``os.urandom`` in 8 MiB chunks, so
neither compression nor a sparse file shortens a read) stored in the home's local WORM
store, viewed under an approved request: open (the POST that registers the view and, the
first time, reads the whole object against its digest), the player page, and the first chunk
of ``Range: bytes=0-``; then a seek (``Range`` at the middle) to its first chunk. Cold means
after ``echo 3 > /proc/sys/vm/drop_caches``; the share of the file in the page cache
(``fincore``) is printed before each figure. The data home is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# Run as a script from anywhere: the repository root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bootstrap  # noqa: E402
from archive import people  # noqa: E402
from archive.access import lookup, streaming  # noqa: E402
from archive.access import requests as access  # noqa: E402
from archive.catalog.base import Query  # noqa: E402
from archive.domain.model import Description, Item  # noqa: E402
from archive.integrity.signing import SigningKey  # noqa: E402
from archive.ledger.chain import Actor  # noqa: E402
from benchmarks.catalog_bench import (  # noqa: E402
    SEED,
    SPAN_DAYS,
    SPAN_START,
    ItemFactory,
    build_world,
    object_of,
    pct,
    person_names,
)
from config import settings as settings_mod  # noqa: E402
from retention import codes as codes_mod  # noqa: E402
from tests.support.authenticator import Authenticator  # noqa: E402
from tests.support.console import console_app, enroll, sign_in, token_of  # noqa: E402
from tests.support.media import FORMATS  # noqa: E402
from tests.support.worm import release_all_for_tests  # noqa: E402

GIB = 1 << 30
CHUNK = 8 << 20
VIEWER, APPROVER, ADMIN = "K0001", "L0001", "A0001"
ROW = 'class="item-link"'
NEXT = re.compile(r'id="next-page" href="([^"]+)"')


# --- the data home ----------------------------------------------------------------------------
@dataclass
class Home:
    path: Path
    settings: settings_mod.Settings
    archive: Any
    actors: dict[str, Actor]
    samples: dict[str, list] = field(default_factory=dict)
    build: dict[str, float] = field(default_factory=dict)


def _person(home: Path, archive: Any, pid: str, name: str, roles: list[str],
            **grants: list[str]) -> Actor:
    key = SigningKey.generate(home / "keys" / f"person-{pid}.key")
    people.register(archive.catalog, pid, name, None, roles, key, **grants)
    return Actor(pid, key)


def coded_through(today: datetime) -> int:
    """The last year whose annual cycle is over: year N is coded by the end of June N+1."""
    return today.year - 1 if today.month > 6 else today.year - 2


def make_home(args: argparse.Namespace, progress: Callable[[str], None]) -> Home:
    path = Path(tempfile.mkdtemp(prefix="custody-webbench-", dir=args.dir))
    settings = settings_mod.load(None, path)
    archive = bootstrap.create_archive(settings)
    actors = {ADMIN: _person(path, archive, ADMIN, "系统管理员", ["administrator"]),
              VIEWER: _person(path, archive, VIEWER, "查阅员甲", ["officer"]),
              APPROVER: _person(path, archive, APPROVER, "法制员乙", ["legal"],
                                positions=["法制股"])}
    return Home(path, settings, archive, actors)


def fill_catalog(home: Home, args: argparse.Namespace, progress: Callable[[str], None]) -> None:
    """The items of catalog_bench, their objects, the officers they name as people, and a 档号
    for every item of a year whose cycle is over. Written outside the archive's journal (a
    million items are not one command's segment) and, for the codes, without fsync per
    record: this is the setup, not what is timed. The catalog is back to its own settings
    (synchronous=FULL) before any request is timed."""
    archive, settings = home.archive, home.settings
    catalog = archive.catalog
    saved_journal, catalog.journal = catalog.journal, None
    rng = random.Random(args.seed)
    world = build_world(rng, args.parties)
    officer_names = person_names(random.Random(args.seed + 5), sum(map(len, world.officers)))
    n = 0
    for u, unit_officers in enumerate(world.officers):
        for pid in unit_officers:
            people.register(catalog, pid, officer_names[n], None, ["officer"], None,
                            units=[world.units[u]])
            n += 1
    factory = ItemFactory(world, args.items, args.seed + 1)
    policy = bootstrap.cycle_policy(settings)
    last_year = coded_through(datetime.now(UTC))
    top: dict[tuple, int] = {}
    code_sample: list[str] = []
    coded = 0
    t_items = t_codes = 0.0
    catalog.db.execute("PRAGMA synchronous=OFF")
    try:
        while not factory.exhausted():
            items = factory.batch(10_000)
            t = time.perf_counter()
            catalog.add_items(items)
            catalog.add_objects([object_of(i) for i in items])
            t_items += time.perf_counter() - t
            t = time.perf_counter()
            for item in items:
                code = _code(catalog, item, settings, policy, last_year, top)
                if code is not None:
                    coded += 1
                    # reservoir sample, so the 档号 asked for are spread over the archive
                    if len(code_sample) < 4000:
                        code_sample.append(code)
                    elif (j := rng.randrange(coded)) < 4000:
                        code_sample[j] = code
            t_codes += time.perf_counter() - t
            progress(f"catalog: {factory.made:,} of {args.items:,} items, {coded:,} coded")
    finally:
        catalog.db.execute("PRAGMA synchronous=FULL")
        catalog.journal = saved_journal
    home.samples = {"world": [world], "party": factory.party_sample, "codes": code_sample}
    home.build = {"items_s": t_items, "codes_s": t_codes, "coded": coded,
                  "coded_through": last_year, "officers": n}


def _code(catalog: Any, item: Item, settings: settings_mod.Settings, policy: Any,
          last_year: int, top: dict[tuple, int]) -> str | None:
    """The archive_codes record the annual cycle writes (retention/codes.py), numbered in
    recording order per (fonds, year, period, unit); None for a year not yet coded."""
    d = item.description
    zone = settings.unit_zone(d.unit) or UTC
    year = d.recorded_start.astimezone(zone).year
    if year > last_year:
        return None
    period = codes_mod.item_period(item, settings.units)
    pcode = codes_mod.period_code(period)
    seq = (policy.fonds, year, pcode, d.unit)
    top[seq] = number = top.get(seq, 0) + 1
    code = codes_mod.format_code(policy.fonds, year, pcode, d.unit, number, policy.digits)
    catalog.put_record("archive_codes", code, {
        "code": code, "item": item.id, "fonds": policy.fonds, "year": year, "period": period,
        "period_code": pcode, "unit": d.unit, "number": number,
        "assigned_at": f"{year + 1}-03-01T02:00:00Z", "assigned_by": ADMIN,
        "sha256": item.sha256, "ledger_seq": 0, "notes": []})
    return code


# --- the console ------------------------------------------------------------------------------
def signed_in_console(home: Home) -> tuple[Any, Any]:
    """The console app over the archive and a test client signed in as the viewer."""
    from archive.passkeys import service as passkeys

    passkeys.attach(home.archive, home.path)
    app = console_app(home.path, home.archive)
    client = app.test_client()
    key = Authenticator()
    enroll(client, home.archive, home.actors[ADMIN], VIEWER, key)
    r = sign_in(client, key)
    if r.status_code != 200:
        raise SystemExit(f"sign-in failed: {r.status_code} {r.get_data(as_text=True)[:300]}")
    return app, client


# --- the search page --------------------------------------------------------------------------
@dataclass
class Series:
    name: str
    times_ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        if not self.times_ms:
            return {"name": self.name, "n": 0, "failures": self.failures[:3]}
        return {"name": self.name, "n": len(self.times_ms), "p50_ms": pct(self.times_ms, 50),
                "p95_ms": pct(self.times_ms, 95), "max_ms": max(self.times_ms),
                "mean_rows": sum(self.rows) / len(self.rows), "failures": self.failures[:3],
                "failed": len(self.failures)}


def _get(client: Any, url: str, series: Series, want: int = 200) -> str | None:
    """GET ``url``, timed into ``series``; the page (or the redirect's target), None when
    the answer was not the one wanted (counted as a failure, not timed)."""
    t = time.perf_counter()
    r = client.get(url)
    ms = (time.perf_counter() - t) * 1000
    body = r.get_data(as_text=True)
    if r.status_code != want or 'id="search-error"' in body:
        series.failures.append(f"{r.status_code} {url}")
        return None
    series.times_ms.append(ms)
    series.rows.append(body.count(ROW))
    return body if want == 200 else r.headers.get("Location", "")


def search_urls(home: Home, n: int, seed: int) -> dict[str, list[str]]:
    """``n`` different requests of each kind, drawn from the data itself."""
    rng = random.Random(seed)
    world = home.samples["world"][0]
    zone = home.settings.unit_zone(None) or UTC
    everyone = [o for unit in world.officers for o in unit]
    parties = list(dict.fromkeys(home.samples["party"]))
    rng.shuffle(parties)

    def sub(length: int) -> list[str]:
        names = [p for p in parties if len(p) >= length][:n]
        out = []
        for p in names:
            i = rng.randrange(len(p) - length + 1)
            out.append(p[i:i + length])
        return out

    def week() -> str:
        start = (SPAN_START + timedelta(seconds=rng.randrange((SPAN_DAYS - 7) * 86400))
                 ).astimezone(zone)
        return urlencode({"officer": rng.choice(everyone), "from": f"{start:%Y-%m-%dT%H:%M}",
                          "to": f"{start + timedelta(days=7):%Y-%m-%dT%H:%M}"})

    def month() -> str:
        first = SPAN_START.astimezone(zone).replace(day=1)
        m = rng.randrange(35)
        y, mo = first.year + (first.month - 1 + m) // 12, (first.month - 1 + m) % 12 + 1
        y2, mo2 = (y + 1, 1) if mo == 12 else (y, mo + 1)
        return urlencode({"unit": rng.choice(world.units), "from": f"{y}-{mo:02d}-01",
                          "to": f"{y2}-{mo2:02d}-01"})

    codes = home.samples["codes"][:]
    rng.shuffle(codes)
    return {
        "form": ["/search"] * n,
        "everything": ["/search?status=archived"] * n,
        "party_2": ["/search?" + urlencode({"party": s}) for s in sub(2)],
        "party_3": ["/search?" + urlencode({"party": s}) for s in sub(3)],
        "officer_week": ["/search?" + week() for _ in range(n)],
        "unit_month": ["/search?" + month() for _ in range(n)],
        "code": ["/search?" + urlencode({"code": c}) for c in codes[:n]],
    }


SERIES = ("form", "everything", "party_2", "party_3", "officer_week", "unit_month", "page_2",
          "code")
TITLES = {
    "form": "no query (the form; the page runs no search)",
    "everything": "every item (status=archived), first page",
    "party_2": "party, 2-char substring, first page",
    "party_3": "party, 3-char substring, first page",
    "officer_week": "officer + 1 week (local time), first page",
    "unit_month": "unit + 1 month (local time), first page",
    "page_2": "unit + 1 month, page 2 (cursor)",
    "code": "档号 (answers 302 to the item)",
    "code_item": "  then the item page it names",
}


def search_bench(home: Home, client: Any, args: argparse.Namespace,
                 progress: Callable[[str], None]) -> dict:
    urls = search_urls(home, args.requests, args.seed + 2)
    for url in (urls["officer_week"][:3] + urls["party_2"][:2]):  # not timed: first opens
        client.get(url)
    out: dict[str, Any] = {"load_before": os.getloadavg()}
    series: list[Series] = []

    def done(s: Series) -> None:
        series.append(s)
        x = s.summary()
        if x["n"]:
            progress(f"  {s.name}: n={x['n']} p50 {x['p50_ms']:.1f} ms, "
                     f"p95 {x['p95_ms']:.1f} ms")

    nexts: list[str] = []
    for name in ("form", "everything", "party_2", "party_3", "officer_week", "unit_month"):
        if name not in args.series:
            continue
        progress(f"search: {name}")
        s = Series(name)
        for url in urls[name]:
            body = _get(client, url, s)
            m = NEXT.search(body or "") if name == "unit_month" else None
            if m:  # the next page of each first page that has one
                nexts.append(m.group(1).replace("&amp;", "&"))
        done(s)
    if "page_2" in args.series:
        progress("search: page 2")
        s = Series("page_2")
        for url in nexts:
            _get(client, url, s)
        done(s)
    if "code" in args.series:
        progress("search: 档号")
        code, item = Series("code"), Series("code_item")
        for url in urls["code"]:
            where = _get(client, url, code, want=302)
            if where:
                _get(client, where, item)
        done(code)
        done(item)
    out["series"] = [s.summary() for s in series]
    out["breakdown"] = breakdown(home, args)
    out["load_after"] = os.getloadavg()
    return out


def breakdown(home: Home, args: argparse.Namespace) -> dict:
    """Where a search page's time goes, two parts timed alone (median of 5): the catalog's
    first page for a party substring, and reading that page's 档号 (``lookup.codes_by_item``,
    which each page of results calls to show the codes of its rows)."""
    archive = home.archive
    party = next(p for p in home.samples["party"] if len(p) >= 3)[:2]

    def median(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return sorted(times)[2]

    page = [i.id for i in archive.search(Query(party=party), 25).items]
    return {"catalog_party_ms": median(lambda: archive.search(Query(party=party), 25)),
            "codes_by_item_ms": median(lambda: lookup.codes_by_item(archive.catalog, page)),
            "codes": home.build.get("coded", 0)}


# --- the recording ----------------------------------------------------------------------------
def random_chunks(total: int) -> Iterator[bytes]:
    left = total
    while left > 0:
        n = min(CHUNK, left)
        yield os.urandom(n)
        left -= n


def store_video(home: Home, gib: float) -> tuple[str, str, dict]:
    """A video item of ``gib`` GiB of random bytes under an approved view request of the
    viewer's: (item id, request id, how it was made)."""
    archive = home.archive
    kind, check = FORMATS[".mp4"]
    t0 = datetime(2026, 3, 2, 1, tzinfo=UTC)
    d = Description(kind=kind, unit="market-001", device_id="DSJ-00001", officers=[VIEWER],
                    recorded_start=t0, recorded_end=t0 + timedelta(hours=4), party="王五",
                    cause="无照经营", source={"original_name": "DSJ-00001/20260302090000.MP4"})
    size = int(gib * GIB)
    t = time.perf_counter()
    item = archive.archive_stream(random_chunks(size), d, home.actors[ADMIN],
                                  datetime.now(UTC) + timedelta(days=1),
                                  checks={"format": dict(check)}).item
    stored_s = time.perf_counter() - t
    ctx = access.AccessContext.from_settings(home.settings)
    req = access.create_request(archive, home.actors[VIEWER], "复核执法过程", "view",
                                items=[item.id])
    access.decide(archive, home.actors[APPROVER], req["id"], True, "同意", ctx)
    archive.finish_command()
    return item.id, req["id"], {"bytes": size, "store_s": stored_s}


def drop_caches() -> str | None:
    """Empty the page cache (root only); None when done, else why not."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def resident(path: Path) -> float | None:
    """The share of ``path`` in the page cache (util-linux fincore), None when unknown."""
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE",
                              str(path)], capture_output=True, text=True, check=True).stdout
        res, size = (int(x) for x in out.split())
        return res / size if size else None
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def _first_chunk(client: Any, src: str, first: int) -> tuple[float, int, int]:
    """GET ``Range: bytes=first-`` until its first chunk is in hand: (ms, status, bytes)."""
    t = time.perf_counter()
    r = client.get(src, headers={"Range": f"bytes={first}-"}, buffered=False)
    chunk = next(iter(r.response), b"")
    ms = (time.perf_counter() - t) * 1000
    r.close()  # the rest is never read: the stream's file is closed here
    return ms, r.status_code, len(chunk)


def _view(app: Any, client: Any, item_id: str, obj: dict, request_id: str, seek: int,
          cold: bool, path: Path, forget: bool) -> dict:
    """One viewing: open -> player page -> first chunk of bytes=0-, then a seek. ``forget``:
    the remembered verification is dropped first (the first view of this version)."""
    out: dict[str, Any] = {}
    if forget:  # the console's working state, as its media views read it
        streaming.Playbacks(app.extensions["custody"].state).forget(obj["key"],
                                                                    obj["version_id"])
    token = token_of(client, f"/media/{item_id}")
    if cold:
        out["drop_caches"] = drop_caches()
    out["resident_before_open"] = resident(path)
    t = time.perf_counter()
    r = client.post(f"/media/{item_id}/open", data={"csrf_token": token,
                                                   "request": request_id})
    out["open_ms"] = (time.perf_counter() - t) * 1000
    if r.status_code != 303:
        out["error"] = f"open: {r.status_code} {r.get_data(as_text=True)[:200]}"
        return out
    player = r.headers["Location"]
    t = time.perf_counter()
    page = client.get(player)
    out["player_ms"] = (time.perf_counter() - t) * 1000
    src = player + "/content"
    if page.status_code != 200 or src not in page.get_data(as_text=True):
        out["error"] = f"player page: {page.status_code}"
        return out
    out["first_ms"], status, got = _first_chunk(client, src, 0)
    out["first_status"], out["first_bytes"] = status, got
    out["to_first_byte_ms"] = out["open_ms"] + out["player_ms"] + out["first_ms"]
    if cold:  # the seek is cold as well: the verification pass just read every byte
        out["drop_caches_seek"] = drop_caches()
    out["resident_before_seek"] = resident(path)
    out["seek_ms"], status, got = _first_chunk(client, src, seek)
    out["seek_status"], out["seek_bytes"] = status, got
    return out


def video_bench(home: Home, app: Any, client: Any, args: argparse.Namespace,
                progress: Callable[[str], None]) -> dict:
    progress(f"video: storing {args.video_gib:g} GiB of random bytes")
    item_id, request_id, made = store_video(home, args.video_gib)
    obj = home.archive.item(item_id).storage["object"]
    path = home.archive.store._version_path(obj["key"], obj["version_id"])  # for fincore only
    seek = made["bytes"] // 2
    out: dict[str, Any] = made | {"seek_at": seek, "resident_after_store": resident(path),
                                  "load_before": os.getloadavg(), "runs": []}
    plan = [("cold, first view (whole object verified)", True, True),
            ("cold, later view (verification remembered)", True, False)]
    plan += [("warm, first view (whole object verified)", False, True)] * args.warm
    plan += [("warm, later view (verification remembered)", False, False)] * args.warm
    for n, (title, cold, forget) in enumerate(plan):
        if n == 2:  # the cold runs left the file out of the cache: read it in, untimed
            progress("video: reading the file into the page cache")
            with open(path, "rb") as f:
                while f.read(CHUNK):
                    pass
        progress(f"video: {title}")
        out["runs"].append({"title": title, "cold": cold}
                           | _view(app, client, item_id, obj, request_id, seek, cold, path,
                                 forget))
    out["load_after"] = os.getloadavg()
    return out


# --- report -----------------------------------------------------------------------------------
def _load(v: tuple[float, float, float]) -> str:
    return "{:.1f}/{:.1f}/{:.1f}".format(*v)


def _share(v: float | None) -> str:
    return "?" if v is None else f"{v:.0%}"


def render(r: dict) -> str:
    b = r["build"]
    lines = [
        f"custody web console benchmark: {r['items']:,} items, seed {r['seed']}",
        f"  {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, SQLite "
        f"{r['machine']['sqlite']}; data home {r['home']} (deleted afterwards)",
        f"  catalog built in {b['items_s']:.0f} s (+ {b['codes_s']:.0f} s for "
        f"{b['coded']:,} 档号: the items of {SPAN_START.year}-{b['coded_through']}); "
        f"{b['officers']:,} officers registered as people",
    ]
    if "search" in r:
        s = r["search"]
        lines += ["", "search page, SERVER time: Flask test client, signed-in session, no "
                  "network/TLS/browser (ms)",
                  f"  load average (1/5/15 min) before {_load(s['load_before'])}, after "
                  f"{_load(s['load_after'])}"]
        w = max(len(t) for t in TITLES.values())
        lines.append(f"  {'request':<{w}}  {'n':>4} {'p50':>8} {'p95':>8} {'max':>8} "
                     f"{'rows':>5}  (rows: mean rows shown of 25 a page)")
        for x in s["series"]:
            title = TITLES[x["name"]]
            if not x["n"]:
                lines.append(f"  {title:<{w}}  none measured {x['failures']}")
                continue
            rows = "" if x["name"].startswith("code") else f"{x['mean_rows']:.1f}"
            lines.append(f"  {title:<{w}}  {x['n']:>4} {x['p50_ms']:>8.1f} "
                         f"{x['p95_ms']:>8.1f} {x['max_ms']:>8.1f} {rows:>5}"
                         + (f"  ({x['failed']} failed: {x['failures'][0]})"
                            if x["failed"] else ""))
        k = s["breakdown"]
        lines.append(f"  parts alone (median of 5): the catalog's first page of a party "
                     f"substring {k['catalog_party_ms']:.1f} ms; reading all {k['codes']:,} "
                     f"档号 (lookup.codes_by_item, once per results page) "
                     f"{k['codes_by_item_ms']:.1f} ms")
    if "video" in r:
        v = r["video"]
        lines += ["", f"first video frame: {v['bytes'] / GIB:g} GiB of random bytes "
                  f"(os.urandom, not sparse) in the local WORM store, stored in "
                  f"{v['store_s']:.0f} s; seek at byte {v['seek_at']:,}",
                  "  SERVER time: open = POST /media/ID/open (registers the view; the first "
                  "view of a version reads it all against its digest), player = the page, "
                  "first = first chunk of Range bytes=0-",
                  f"  load average before {_load(v['load_before'])}, after "
                  f"{_load(v['load_after'])}; in page cache after storing: "
                  f"{_share(v['resident_after_store'])}"]
        lines.append(f"  {'':<44} {'cached':>6} {'open':>8} {'player':>7} {'first':>7} "
                     f"{'total':>8}   {'cached':>6} {'seek':>7}")
        for run in v["runs"]:
            if "error" in run:
                lines.append(f"  {run['title']:<44} ERROR {run['error']}")
                continue
            lines.append(
                f"  {run['title']:<44} {_share(run['resident_before_open']):>6} "
                f"{run['open_ms']:>8.1f} {run['player_ms']:>7.1f} {run['first_ms']:>7.1f} "
                f"{run['to_first_byte_ms']:>8.1f}   {_share(run['resident_before_seek']):>6} "
                f"{run['seek_ms']:>7.1f}")
            for k in ("drop_caches", "drop_caches_seek"):
                if run.get(k):
                    lines.append(f"    drop_caches failed ({k}): {run[k]}: this run was "
                                 f"NOT cold")
        lines.append("  (ms; 'cached' = share of the file in the page cache just before, by "
                     "fincore; first chunk 1 MiB, status 206)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--video-gib", type=float, default=2.0, help="0: no video figures")
    p.add_argument("--requests", type=int, default=30, help="requests per search series")
    p.add_argument("--warm", type=int, default=3, help="warm repetitions of each view")
    p.add_argument("--parties", type=int, default=200_000)
    p.add_argument("--dir", help="parent of the temporary data home")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--no-search", dest="search", action="store_false")
    p.add_argument("--series", default=",".join(SERIES),
                   help=f"search series to time, of {','.join(SERIES)} (default all; page_2 "
                   "follows unit_month's pages)")
    p.add_argument("--keep", action="store_true", help="keep the data home")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    args.series = [x.strip() for x in args.series.split(",") if x.strip()]
    if set(args.series) - set(SERIES) or ("page_2" in args.series
                                          and "unit_month" not in args.series):
        p.error(f"--series: choose from {', '.join(SERIES)} (page_2 needs unit_month)")

    def progress(text: str) -> None:
        if not args.quiet:
            print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    home = make_home(args, progress)
    result: dict[str, Any] = {
        "items": args.items, "seed": args.seed, "home": str(home.path), "build": home.build,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}}
    app = None
    try:
        # the console first: a tree that cannot serve fails before a long build, not after
        app, client = signed_in_console(home)
        fill_catalog(home, args, progress)
        result["build"] = home.build
        if args.search:
            result["search"] = search_bench(home, client, args, progress)
        if args.video_gib > 0:
            result["video"] = video_bench(home, app, client, args, progress)
    finally:
        if app is not None:
            app.extensions["custody"].close()
        home.archive.catalog.close()
        if not args.keep:
            release_all_for_tests(home.path)  # the store's immutable attributes
            shutil.rmtree(home.path, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str) if args.json
          else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
