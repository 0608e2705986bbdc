"""Records on a disc named by 档号 only, with their real extension, and a 盘内说明 on every disc
(档号 range, counts, written time in local time, digests)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.packaging.bags import open_bag
from archive.worm.local import LocalWormStore
from config import settings as settings_mod
from documents import issue, sign
from retention import discs
from retention.codes import Wanted, assign_codes
from tests.support import documents as docs
from tests.support.archives import make_archive
from tests.support.corpus import make_mp4
from tests.support.cycle import SH, archivist, policy
from tests.support.worm import release_all_for_tests

NOW = datetime(2026, 7, 2, 6, 0, tzinfo=timezone.utc)  # 14:00 in Beijing


def _text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.pdf"
        path.write_bytes(pdf)
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                              text=True, check=True).stdout


def test_disc_records_are_named_by_code_with_their_extension(tmp_path):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    try:
        setup = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
        arc = archivist(setup, "ARC1")
        video = make_mp4(tmp_path / "v.mp4", 1).read_bytes()
        items = []
        for n in range(3):
            start = datetime(2025, 6, 1, 9, tzinfo=SH) + timedelta(hours=n)
            item = setup.archive.archive_stream(
                [video + bytes([n])], Description(
                    kind="video", unit="resources-001", device_id="D1", officers=["P1"],
                    recorded_start=start, recorded_end=start + timedelta(minutes=3),
                    party="王五", title="王五违法占地现场录像"),
                setup.actor, datetime.now(timezone.utc) + timedelta(days=30),
                checks={"format": {"extension": "mp4", "extension_matches": True,
                                   "mime": "video/mp4"}}).item
            item.tier = "permanent"
            setup.catalog.save_state(item)
            items.append(item)
        coded = assign_codes(setup.archive, arc, [Wanted(i, "permanent") for i in items[:2]],
                             "J001", 2025, 5, NOW)
        codes = [c["code"] for c in coded]
        home = settings_mod.load(None, tmp_path / "home")
        issued = []

        def inside_pdf(disc_id, label, rows):
            doc = issue.issue(setup.archive, arc, home, "disc-readme", disc_id,
                              keys_dir=tmp_path / "keys", params={"label": label, "rows": rows})
            issued.append(doc)
            return doc["pdf"]

        out = discs.build(setup.archive, arc, policy(), "permanent", 2025, 10**8,
                          tmp_path / "d", NOW, inside_pdf=inside_pdf)
        disc = out["discs"][0]
        with open_bag(disc["image"]) as src:
            names = sorted(src.files())
            inside = src.read_bytes("data/盘内说明.txt").decode("utf-8")
            label = src.read_bytes("data/disc-label-zh.txt").decode("utf-8")
            pdf = src.read_bytes(f"data/{discs.INSIDE_PDF}")
        records = [n for n in names if n.startswith("data/records/")]
        assert records == sorted([f"data/records/{codes[0]}.mp4",
                                  f"data/records/{codes[1]}.mp4",
                                  f"data/records/{items[2].id}.mp4"])
        assert not any("王五" in n or "现场" in n for n in names)  # never a title or a party
        assert f"{codes[0]} 至 {codes[1]}" in inside and "另 1 件未编档号" in inside
        assert "数量：3 件" in inside
        assert "2026-07-02 14:00:00（北京时间（Asia/Shanghai））" in inside
        for i in items:
            assert i.sha256 in inside and i.current.digests.sm3 in inside
        assert f"{codes[0]} 至 {codes[1]}" in label and "视频 3" in label
        assert disc["label"]["first_code"] == codes[0] and disc["label"]["items"] == 3
        assert discs.verify(disc["image"], setup.archive.archive_keys)["ok"]
        # the 盘内说明 as a signed PDF on the disc: the very document issued and kept
        assert pdf == issued[0]["pdf"] and "盘字第" in issued[0]["number"]
        assert issue.reprint(setup.archive, arc, home, "disc-readme", disc["id"],
                             keys_dir=tmp_path / "keys")["pdf"] == pdf
        assert sign.verify_pdf(pdf, setup.archive.archive_keys)["ok"]
        text = _text(pdf)
        flat = text.replace(" ", "").replace("\n", "")
        for words in (f"{codes[0]}至{codes[1]}", "另1件未编档号", "3件（视频3件）",
                      "2026-07-0214:00:00", "时间均为北京时间", "档案员ARC1（ARC1）",
                      items[0].sha256[:32], disc["id"], "盘内说明"):
            assert words in flat, words
        assert not any("王五" in line for line in text.splitlines())  # 题名 and party: never
        assert docs.layout_problems(pdf) == []
        assert {c for c in docs.missing_glyphs(pdf, text) if not c.isdigit()} == set()
        if os.environ.get("CUSTODY_DOC_PNG"):
            docs.to_png(pdf, Path(os.environ["CUSTODY_DOC_PNG"]) / "disc_readme")
    finally:
        cat.close()
        release_all_for_tests(tmp_path)
