"""The 四性检测报告 of a handover package at the command line: `transfer prepare --pdf` (the
package as written, the sender's check) and `transfer accept --pdf` (as received, the check the
receipt records), each with its 文号, printed again byte for byte; records that fail a check
are named with it."""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support.cli import run, run_json
from tests.support.office import office  # noqa: F401  (office: a fixture)


def _items_of_2025(n: int) -> list[str]:
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    ids = []
    for i in range(n):
        start = datetime(2025, 7, 1, 1, tzinfo=timezone.utc) + timedelta(hours=i)
        item = archive.archive_stream([os.urandom(5000)], Description(
            kind="video", unit="market-001", device_id="D1", officers=["OF1"],
            recorded_start=start, recorded_end=start + timedelta(minutes=2)), actor,
            until).item
        ids.append(item.id)
    archive.finish_command()
    archive.catalog.close()
    return ids


def _text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.pdf"
        path.write_bytes(pdf)
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                              text=True, check=True).stdout.replace(" ", "")


def test_prepare_and_accept_write_the_four_property_report(office, tmp_path):
    ids = _items_of_2025(2)
    office.setenv("CUSTODY_ACT_AS", "AR1")
    sent = tmp_path / "sent.pdf"
    out = run_json("transfer", "prepare", "--year", "2025", "--to", str(tmp_path / "t"),
                   "--no-media", "--pdf", str(sent))
    doc = out["document"]
    assert doc["kind"] == "handover-check-report" and "测字第0001号" in doc["number"]
    text = _text(sent.read_bytes())
    # random bytes declared as video: the format check (KY-22) fails each record, by name
    assert "移交方检测" in text and "电子档案2件" in text and "存在不通过项2件" in text
    assert "KY-22" in text and "文件已损" in text and len(ids) == 2
    office.setenv("CUSTODY_ACT_AS", "AR2")
    received = tmp_path / "received.pdf"
    shown = run("transfer", "accept", "--year", "2025", "--pdf", str(received)).stdout
    assert "电子档案移交接收回执" in shown and "测字第0002号" in shown
    rtext = _text(received.read_bytes())
    # authentic and whole, so accepted; what usability found is in the report and the receipt
    assert "接收方检测" in rtext and "数据包检测结论不通过" in rtext and "KY-22" in rtext
    again = tmp_path / "again.pdf"
    subject = run_json("documents", "--kind", "handover-check-report")["documents"]
    assert len(subject) == 2
    for d in subject:
        run("print", "handover-check-report", d["subject"], "--out", str(again))
        assert again.read_bytes() in (sent.read_bytes(), received.read_bytes())
