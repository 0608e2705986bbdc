"""What an archivist reads from intake and retention, in Chinese (custody's default): each
file's reasons, a refused manifest, a refused device and a refused case register, through the
command line with click's CliRunner. ``--json`` keeps the stable English ``message`` with the
Chinese ``text`` beside it."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import bootstrap
import i18n
from archive import people
from archive.domain.model import Description
from config import settings
from config.settings import load
from retention.cases import RegisterProblems
from retention.rules import CaseFacts, FlagFacts, holds_text, requirement, rule_text
from retention.wording import Joined, Named, Stored, local_minute
from scanners.problems import problem
from tests.support.cli import env, run  # noqa: F401  (fixture and helper)
from tests.support.corpus import make_mp4, make_pdf
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.office import office  # noqa: F401  (a fixture)

CJK = "\u4e00"


def _json(*args: str, code: int) -> dict:
    return json.loads(run(*args, "--json", code=code).stdout)


@pytest.fixture
def cfg(env, clamd_scanner):  # noqa: F811
    path = env / "custody.toml"
    path.write_text(f'[scanner]\nsocket = "{clamd_scanner.socket_path}"\n')
    run("--config", str(path), "init")
    return path


def _offload(env, c: list[str]):  # noqa: F811
    """A camera's file from a registered device the manifest forgets, a clip nobody
    describes, and the one document the manifest names."""
    run(*c, "devices", "add", "DSJ-0700", "--model", "X9", "--officer", "P7000",
        "--unit", "market-001")
    root = env / "offload"
    root.mkdir()
    make_mp4(root / "DSJ-0700_20260315_090000_0001.MP4", 1,
             creation_time="2026-03-15T09:00:00Z")
    make_mp4(root / "clip.mp4", 1, creation_time=None)
    make_pdf(root / "scan.pdf")
    manifest = env / "m.csv"
    manifest.write_text("file,kind,unit,officer_id\nscan.pdf,document,market-001,P7000\n",
                        encoding="utf-8")
    return root, manifest


def test_ingest_reasons_read_in_chinese_with_english_messages_kept(cfg, env, chinese):  # noqa: F811
    c = ["--config", str(cfg)]
    root, manifest = _offload(env, c)
    out = _json(*c, "ingest", str(root), "--manifest", str(manifest), code=1)
    files = {f["file"]: f for f in out["files"]}

    camera = {r["code"]: r for r in files["DSJ-0700_20260315_090000_0001.MP4"]["reasons"]}
    assert camera["no-manifest-row"]["message"] == "the manifest does not name this file"
    assert camera["no-manifest-row"]["text"] == "著录清单中未列出此文件"
    # the deadline in the unit's zone, to the minute: the recording ended 17:00 in Shanghai
    # on 15 March (09:00 UTC), so the same-day rule ends at midnight there
    zone = load(cfg).unit_zone("market-001")
    due = datetime.fromisoformat(
        files["DSJ-0700_20260315_090000_0001.MP4"]["checks"]["deadline"]["due"])
    shown = f"{due.astimezone(zone):%Y-%m-%d %H:%M}"
    assert shown == "2026-03-16 00:00" and zone == ZoneInfo("Asia/Shanghai")
    assert camera["late"]["message"] == f"offloaded after {shown}"
    assert camera["late"]["text"] == f"逾期采集：应于 {shown} 前采集"

    clip = {r["message"]: r["text"] for r in files["clip.mp4"]["reasons"]}
    assert clip["unit is missing"] == "缺少单位"
    assert clip["device_id is missing"] == "缺少设备编号"
    assert clip["officers is missing"] == "缺少执法人员"
    for f in files.values():
        for r in f["reasons"]:
            assert CJK <= max(r["text"]) and not english_phrases(r["text"]), r
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in r["message"]), r

    # what a person reads: the same reasons in the table, no English sentence among them
    table = run(*c, "ingest", str(root), "--manifest", str(manifest), code=1).stdout
    assert "著录清单中未列出此文件" in table and "缺少单位" in table

    # the batch's report as filed: the reasons, each check by its Chinese name, what it saw
    report = run(*c, "batch", "show", out["batch_id"]).stdout
    assert "  · 逾期采集：应于 2026-03-16 00:00 前采集" in report
    assert "必填元数据齐全" in report and "单位、设备编号、执法人员" in report
    assert "病毒检测" in report and "未发现病毒 (" in report and "clean (" not in report
    assert "逾期采集：1" in report and "锁定至 " in report
    assert "（北京时间（Asia/Shanghai））" in report and " UTC" not in report  # the archive's zone


def test_a_refused_manifest_is_told_in_chinese(cfg, env, chinese):  # noqa: F811
    c = ["--config", str(cfg)]
    root = env / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    manifest = env / "m.csv"
    manifest.write_text("name,kind\nscan.pdf,document\n", encoding="utf-8")
    said = run(*c, "ingest", str(root), "--manifest", str(manifest), code=2).output
    assert f"著录清单 {manifest} 第 1 行：表头行中没有 file 列（现有列：name, kind）" in said
    assert not english_phrases(said.replace(str(manifest), ""),
                               allowed=("CSV", "file", "name, kind")), said
    out = _json(*c, "ingest", str(root), "--manifest", str(manifest), code=2)
    assert out["error"] == "bad-input"
    assert out["message"] == (f"manifest {manifest}, line 1: the header row has no 'file' "
                              "column (found: name, kind); a CSV manifest is comma-separated "
                              "with a header row")
    assert out["text"].startswith(f"著录清单 {manifest} 第 1 行：") and "逗号分隔" in out["text"]
    assert (root / "scan.pdf").exists()  # refused before anything was touched


def test_a_refused_device_is_told_in_chinese(cfg, chinese):  # noqa: F811
    c = ["--config", str(cfg)]
    said = run(*c, "devices", "add", "DSJ-0800", "--model", "X9", "--unit", "nowhere",
               code=2).output
    assert "配置中没有单位 'nowhere'（已配置的单位：" in said and "market-001" in said
    assert not english_phrases(said), said
    run(*c, "devices", "add", "DSJ-0800", "--model", "X9")
    out = _json(*c, "devices", "add", "DSJ-0800", "--model", "X9", code=2)
    assert (out["message"], out["text"]) == ("device DSJ-0800 already exists",
                                            "设备 DSJ-0800 已登记")


def test_a_register_refusal_words_every_line_in_the_readers_language(chinese):  # noqa: F811
    problems = [problem("listed-twice", i18n.Text("listed twice"), line=3, case="C-1"),
                problem("bad-row", i18n.Text("unknown unit {unit!r}", unit="x"), line=4)]
    exc = RegisterProblems("cases.csv", problems)  # type: ignore[arg-type]
    assert exc.message == ("cases.csv: 2 problem(s), nothing imported: line 3: listed twice; "
                           "line 4: unknown unit 'x'")
    assert i18n.localize(exc) == ("cases.csv：发现 2 个问题，未导入任何内容：第 3 行：重复列出；"
                                  "第 4 行：未知单位 'x'")
    assert exc.to_dict()["problems"][1]["text"] == "未知单位 'x'"
    i18n.use("en")  # the same refusal for a reader of English
    assert i18n.localize(exc) == exc.message
    assert problems[0]["text"] == "重复列出"  # worded once, for the reader who ran the check


def test_codes_and_times_inside_messages(chinese):  # noqa: F811
    role = Named("approver", {"approver": "审批人"})
    assert (str(role), i18n.localize(role)) == ("approver", "审批人")
    assert i18n.localize(Named("unknown-code", {})) == "unknown-code"
    both = Joined([i18n.Text("listed twice"), "C-9"])
    assert (str(both), i18n.localize(both)) == ("listed twice; C-9", "重复列出；C-9")
    old = Stored({"code": "x", "message": "listed twice"})  # kept before texts were
    assert i18n.localize(old) == "重复列出"
    shanghai = ZoneInfo("Asia/Shanghai")
    assert local_minute("2026-03-17T01:00:02+00:00", shanghai) == "2026-03-17 09:00"
    assert local_minute("2026-03-17T01:00:02Z", None) == "2026-03-17 01:00 UTC"


def _one_item() -> str:
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    start = datetime.now(timezone.utc) - timedelta(hours=3)
    item = archive.archive_stream([os.urandom(1500)], Description(
        kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
        recorded_start=start, recorded_end=start + timedelta(minutes=1)), actor,
        datetime.now(timezone.utc) + timedelta(days=200)).item
    archive.finish_command()
    archive.catalog.close()
    return item.id


def test_retention_refusals_in_chinese(office, tmp_path, chinese):  # noqa: F811
    office.setenv("CUSTODY_ACT_AS", "AR1")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,type,unit\nX,unknown,market-001\nY,general,mars\n", encoding="utf-8")
    said = run("case", "import", str(bad), code=2).output
    assert (f"{bad}：发现 2 个问题，未导入任何内容：第 2 行：案件 X：案件类型 'unknown' 没有规定"
            "案卷保管期限（已规定的类型：general, major, permanent）；第 3 行：未知单位 'mars'"
            ) in said
    out = _json("case", "import", str(bad), code=2)
    assert out["message"] == (f"{bad}: 2 problem(s), nothing imported: line 2: case X: no "
                              "period for case type 'unknown' (known: general, major, "
                              "permanent); line 3: unknown unit 'mars'")
    assert [(p["line"], p["text"]) for p in out["problems"]] == [
        (2, "案件 X：案件类型 'unknown' 没有规定案卷保管期限（已规定的类型：general, major, "
            "permanent）"), (3, "未知单位 'mars'")]

    item = _one_item()
    office.setenv("CUSTODY_ACT_AS", "AP1")  # an approver may raise a flag, not confirm their own
    flag = _json("flag", item, "--reason", "obstruction", "--note", "阻碍执法", code=0)
    said = run("flag", "confirm", flag["id"], code=2).output
    assert f"标记 {flag['id']} 由 AP1 提出，须由另一名审批人确认" in said
    assert not english_phrases(said), said
    out = _json("flag", "confirm", flag["id"], code=2)
    assert out["error"] == "identity-refused"
    assert out["message"] == (f"flag {flag['id']} was raised by AP1: a second person with the "
                              "role approver confirms it")
    assert out["text"] == f"标记 {flag['id']} 由 AP1 提出，须由另一名审批人确认"
    said = run("flag", item, "--reason", "other", code=2).output
    assert "以“其他”理由提出标记，须写明理由（--note）" in said and not english_phrases(said)


def test_the_rules_kept_in_english_read_in_chinese(chinese):  # noqa: F811
    shanghai = ZoneInfo("Asia/Shanghai")
    end = datetime(2026, 3, 15, 9, tzinfo=timezone.utc)
    req = requirement("market-001", {"routine_months": 6, "case_periods": {"general": 10}},
                      shanghai, end, end, [CaseFacts("SJ-1", "general")],
                      [FlagFacts("F1", "obstruction", "unconfirmed")])
    # the record keeps the English sentences; read back, they are the same sentences
    assert req.rule == "routine footage of market-001: 6 months from 2026-03-15"
    assert req.holds == ("case SJ-1 is open", "flag F1 (obstruction) awaits confirmation")
    assert str(rule_text(req.rule)) == req.rule
    assert str(holds_text(req.holds)) == "; ".join(req.holds)
    assert i18n.localize(rule_text(req.rule)) == (
        "market-001 的常规录像：自 2026-03-15 起保管 6 个月")
    assert i18n.localize(holds_text(req.holds)) == "案件 SJ-1 尚未结案；标记 F1（阻碍执法）待确认"
    assert rule_text("a rule of some older form") == "a rule of some older form"
    assert rule_text(None) == ""
