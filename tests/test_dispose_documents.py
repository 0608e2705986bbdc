"""鉴定意见 and 销毁清册 at the command line: `dispose show --pdf` refused until the appraisal is
concluded, then the 鉴定意见 (each appraiser by name, the decision and reason per item);
`dispose execute --pdf` the 销毁清册; both printed again byte for byte with their 文号; the
refusal read in Chinese, and in --json the English message with the Chinese text beside it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support import documents as docs
from tests.support.cli import run, run_json
from tests.support.language import chinese  # noqa: F401
from tests.support.office import office  # noqa: F401  (office: a fixture)


def _as(office, person: str) -> None:
    office.setenv("CUSTODY_ACT_AS", person)


def _expired_items(n: int, lock_s: int = 3) -> list[str]:
    """Recorded in January 2025 (routine six months: long expired), locked a few seconds."""
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    start = datetime(2025, 1, 2, tzinfo=timezone.utc)
    until = datetime.now(timezone.utc) + timedelta(seconds=lock_s)
    ids = []
    for i in range(n):
        d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                        recorded_start=start + timedelta(minutes=i),
                        recorded_end=start + timedelta(minutes=i + 1), party="王五",
                        cause="占道经营")
        item = archive.archive_stream([os.urandom(1500)], d, actor, until).item
        item.ingested_at = start + timedelta(days=1)
        archive.catalog.save_state(item)
        ids.append(item.id)
    archive.finish_command()
    archive.catalog.close()
    return ids


def _text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.pdf"
        path.write_bytes(pdf)
        # -raw keeps a cell's wrapped lines together (an id wraps where its digits' widths
        # put the cell's edge, which differs from id to id)
        out = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True,
                             text=True, check=True).stdout
        return "".join(out.split())


def test_appraisal_opinion_and_destruction_register_at_the_command_line(office, tmp_path):
    gone = _expired_items(3)
    _as(office, "AR1")
    time.sleep(4)
    lid = run_json("dispose", "propose")["id"]
    _as(office, "AP1")
    opinion = tmp_path / "opinion.pdf"
    refused = run("dispose", "show", lid, "--pdf", str(opinion), code=2).stderr
    assert "is not concluded (0 of 2 approvals)" in refused and not opinion.exists()
    run("dispose", "approve", lid, "--reject", gone[1], "仍有保存价值", "--note", "同意销毁")
    _as(office, "AP2")
    run("dispose", "approve", lid, "--note", "保管期限已满")
    out = run_json("dispose", "show", lid, "--pdf", str(opinion))
    assert out["kind"] == "appraisal-opinion" and out["subject"] == lid
    assert "鉴字第" in out["number"] and out["sha256"] == hashlib.sha256(
        opinion.read_bytes()).hexdigest()
    pdf = opinion.read_bytes()
    text = _text(pdf)
    for words in ("电子档案鉴定意见", "人员AP1（AP1）", "人员AP2（AP2）", "不同意销毁，继续保存",
                  "仍有保存价值", "同意销毁2件；继续保存1件", "鉴定人", "签名",
                  # no 档号 yet: the column reads "—" and the id goes under the 题名
                  f"条目{gone[0][:20]}"):
        assert words in text, words
    assert text.count("鉴定人") >= 3  # the column, and a signature line for each appraiser
    assert docs.layout_problems(pdf) == []
    for person in ("AU1", "AU2"):
        _as(office, person)
        run("dispose", "witness", lid)
    _as(office, "AR2")
    register = tmp_path / "register.pdf"
    done = run_json("dispose", "execute", lid, "--witness", "AU1", "--witness", "AU2",
                    "--pdf", str(register))
    assert done["document"]["kind"] == "disposal-register" and "销字第" in \
        done["document"]["number"]
    rtext = _text(register.read_bytes())
    assert "电子档案销毁清册" in rtext and "监销人" in rtext and "人员AU1（AU1）" in rtext
    assert f"条目{gone[0][:20]}" in rtext and f"条目{gone[1][:20]}" in rtext  # kept, too
    # both printed again, the very bytes, by the 文号's documents
    for kind, path in (("appraisal-opinion", opinion), ("disposal-register", register)):
        again = tmp_path / f"again-{kind}.pdf"
        run("print", kind, lid, "--out", str(again))
        assert again.read_bytes() == path.read_bytes(), kind


def test_the_refusal_reads_in_chinese_and_json_keeps_the_english(office, tmp_path, chinese):
    _expired_items(1, lock_s=1)
    _as(office, "AR1")
    time.sleep(2)
    lid = run_json("dispose", "propose")["id"]
    _as(office, "AP1")
    shown = run("dispose", "show", lid, "--pdf", str(tmp_path / "o.pdf"), code=2).stderr
    assert f"销毁清单 {lid} 尚未完成鉴定" in shown and "not concluded" not in shown
    data = json.loads(run("dispose", "show", lid, "--pdf", str(tmp_path / "o.pdf"), "--json",
                          code=2).stdout)
    assert "is not concluded" in data["message"] and "尚未完成鉴定" in data["text"]
    missing = run("print", "appraisal-opinion", "Dnothing", "--out", str(tmp_path / "x.pdf"),
                  code=2).stderr
    assert "没有销毁清单 Dnothing" in missing
