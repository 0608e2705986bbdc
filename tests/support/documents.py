"""Checks on rendered documents that look at the PDF as a reader's screen would: every
character drawn with a glyph of an embedded font (text extraction alone cannot see a missing
glyph drawn as an empty box), no text outside the page or running into its neighbour (poppler's
``pdftotext -bbox-layout``), and the page count."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from pathlib import Path

from archive.domain.names import lot_words


def _reader(pdf: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf), strict=False)


def page_count(pdf: bytes) -> int:
    return int(_reader(pdf).root["/Pages"]["/Count"])


def embedded_cmaps(pdf: bytes) -> list[set[int]]:
    """The code points each embedded font program maps to a glyph (its own 'cmap' table, read
    with fontTools from the embedded FontFile2/FontFile3 stream), one set per font."""
    from fontTools.ttLib import TTFont

    seen: set[int] = set()
    out: list[set[int]] = []
    reader = _reader(pdf)
    for ref in _all_font_descriptors(reader):
        if id(ref) in seen:
            continue
        seen.add(id(ref))
        for key in ("/FontFile2", "/FontFile3", "/FontFile"):
            if key in ref:
                data = ref[key].data
                font = TTFont(io.BytesIO(data))
                cmap = font.getBestCmap() or {}
                out.append({cp for cp, glyph in cmap.items() if glyph != ".notdef"})
    return out


def _deref(obj):
    return obj.get_object() if hasattr(obj, "get_object") else obj


def _all_font_descriptors(reader) -> list:
    """Every font descriptor the pages use, once (by object), in page order."""
    descs: dict[int, object] = {}
    pages = [reader.root["/Pages"]]
    while pages:
        node = _deref(pages.pop())
        if node.get("/Type") == "/Pages":
            pages.extend(node["/Kids"])
            continue
        resources = _deref(node["/Resources"]) if "/Resources" in node else {}
        fonts = _deref(resources["/Font"]) if "/Font" in resources else {}
        for name in fonts:
            font = _deref(fonts[name])
            for desc_font in (font["/DescendantFonts"] if "/DescendantFonts" in font
                              else [font]):
                desc_font = _deref(desc_font)
                if "/FontDescriptor" in desc_font:
                    d = desc_font["/FontDescriptor"]
                    descs.setdefault(id(d), d)
    return list(descs.values())


def missing_glyphs(pdf: bytes, text: str) -> set[str]:
    """Characters of ``text`` no embedded font has a glyph for (whitespace aside)."""
    covered: set[int] = set().union(*embedded_cmaps(pdf)) if embedded_cmaps(pdf) else set()
    return {c for c in set(text) if not c.isspace() and ord(c) not in covered}


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                   r'(.*?)</word>')
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)


def layout_problems(pdf: bytes, margin: float = 0.5) -> list[str]:
    """Words beyond the page, and words whose boxes overlap another word's (text running out
    of its cell into the next one draws over it)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(pdf)
        html = subprocess.run(["pdftotext", "-bbox-layout", str(path), "-"],
                              capture_output=True, text=True, check=True).stdout
    problems = []
    for n, (w, h, body) in enumerate(_PAGE.findall(html), 1):
        width, height = float(w), float(h)
        words = [(float(a), float(b), float(c), float(d), t)
                 for a, b, c, d, t in _WORD.findall(body)]
        for x0, y0, x1, y1, t in words:
            if x0 < -margin or y0 < -margin or x1 > width + margin or y1 > height + margin:
                problems.append(f"page {n}: {t!r} beyond the page")
        words.sort()
        for i, (x0, y0, x1, y1, t) in enumerate(words):
            for a0, b0, a1, b1, u in words[i + 1:]:
                if a0 >= x1 - margin:
                    break
                if min(y1, b1) - max(y0, b0) > margin and min(x1, a1) - max(x0, a0) > margin:
                    problems.append(f"page {n}: {t!r} overlaps {u!r}")
    return problems


def to_png(pdf: bytes, folder: Path, resolution: int = 60) -> list[Path]:
    """The pages as pictures (pdftoppm), to look at."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "doc.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(resolution), "-png", str(path), str(folder / "p")],
                   check=True)
    return sorted(folder.glob("p*.png"))


# --- realistic data for every document kind ------------------------------------------------
UNIT_NAME = "某某省某某市某某区市场监督管理局综合行政执法大队第三中队（䶮𠮷街道市场监督管理所）"
PEOPLE = [{"id": "P1001", "name": "张𠮷祥"}, {"id": "P1002", "name": "刘䶮"},
          {"id": "P1003", "name": "欧阳娜娜"}, {"id": "P1004", "name": "司马懿明"},
          {"id": "P1005", "name": "上官婉儿"}]
PARTY = ("某某省某某市䶮𠮷商贸有限责任公司第一分公司"
         "（原某某市某某区𠮷祥综合批发市场经营管理有限公司）")
T0 = "2025-06-18T06:00:00Z"  # 14:00 in Beijing


def _item(n: int) -> dict:
    return {"id": f"0197a3b2-0c1d-7e2f-8a3b-{n:012d}", "archive_code": f"J001-2025-ZF-Y-{n:06d}",
            "title": f"2025年6月18日 张𠮷祥 现场勘验 {PARTY} 无照经营 执法记录仪视频（{n}/500）",
            "kind": "video", "unit": "market-001", "recorded_start": T0,
            "recorded_end": "2025-06-18T06:30:00Z", "destroyed": n % 97 == 0}


def record(kind: str, data: dict, landscape: bool, title: str) -> dict:
    """A document record as documents.issue makes it (unsigned: rendering needs no key)."""
    return {"type": "custody.document-record", "id": "0197a3b2-0000-7000-8000-000000000001",
            "kind": kind, "title": title, "subject": "0197a3b2-0000-7000-8000-000000000002",
            "number": "〔2025〕移字第0003号", "issued_at": T0,
            "issued_by": PEOPLE[0], "zone": "Asia/Shanghai", "unit_name": UNIT_NAME,
            "landscape": landscape, "template": f"{kind}.html", "data": data}


# a lot of one unit's year and a party, in the words a document prints for it
LOT = {"query": "unit=market-001 party=王五 from=2025-01-01T00:00 to=2026-01-01T00:00",
       "size": 35000}
LOT["words"] = lot_words(LOT, {"market-001": "市场监督管理局执法大队第一中队"})


def realistic(kind: str, n: int = 500) -> dict:
    """The data of ``kind`` with ``n`` items: long names, rare characters, 4 assisting
    officers beside the officer, digests and ids that must wrap."""
    from documents import four_property

    items = [_item(i) for i in range(1, n + 1)]
    if kind == "access_register":
        rows = [{"at": T0, "person": PEOPLE[i % 5], "reason": f"行政复议答复：{PARTY}诉讼案",
                 "approved_by": PEOPLE[(i + 1) % 5], "request": items[i]["id"],
                 "inspection": None, "export": None, "item": items[i],
                 "how": ("player", "export", "link")[i % 3], "outcome": "已调阅",
                 "refusal": i % 50 == 0} for i in range(n)]
        return {"from": None, "to": T0, "rows": rows,
                "counts": {"entries": n, "refusals": n // 50, "people": 5}}
    if kind == "export_statement":
        return {"unit": "market-001", "export_id": items[0]["id"], "extracted_at": T0,
                "extractor": PEOPLE[1],
                "request": {"id": items[1]["id"], "requester": PEOPLE[2],
                            "reason": f"移送公安机关：{PARTY}涉嫌无照经营", "purpose": "extract",
                            "approved_by": PEOPLE[3], "approved_at": T0},
                "makers": PEOPLE, "archive_key": "1A2B 3C4D 5E6F 7A8B 9C0D 1E2F 3A4B 5C6D",
                "total_size": 1234567890 * n,
                "items": [it | {"n": i, "makers": PEOPLE, "device_id": "DSJ-䶮-000123456789",
                                "party": PARTY, "cause": "无照经营",
                                "case_id": "市监案〔2025〕123号",
                                "size": 1234567890, "sha256": "ab" * 32, "sm3": "cd" * 32,
                                "path": f"data/{it['id']}/{it['archive_code']}.mp4",
                                "metadata_version": 2}
                          for i, it in enumerate(items, 1)]}
    if kind == "sampling_report":
        rows = [{"n": i, "item": it, "ok": i % 100 != 3, "not_replicated": False,
                 "problems": [] if i % 100 != 3 else [
                     {"code": "digest-mismatch", "name": "摘要值不符",
                      "action": "存储内容已改变：从第二副本恢复，保留出错版本作为证据，并报告"}]}
                for i, it in enumerate(items, 1)]
        failed = [r for r in rows if not r["ok"]]
        return {"inspection": items[0]["id"], "at": T0, "by": PEOPLE[4],
                "lot": LOT,
                "plan": {"method": "GB/T 2828.1-2012 一般检验水平", "level": "II",
                         "code_letter": "N", "sample_size": n, "aql": None, "ac": 0, "re": 1,
                         "equivalent_aql": 0.025},
                "seed": "1234567890123456789", "copy": "primary",
                "summary": {"checked": n, "passed": n - len(failed),
                            "failed": [r["item"]["id"] for r in failed], "not_replicated": []},
                "verdict": {"result": "reject" if failed else "accept",
                            "zh": "批不合格" if failed else "批合格", "defects": len(failed),
                            "ac": 0, "re": 1, "failed": [],
                            "full_check": "custody verify --year 2025 --all"},
                "rows": rows, "failed": failed}
    if kind == "inspection_ledger":
        rows = [{"id": it["id"], "type": "conduct-check", "at": T0, "by": PEOPLE[i % 5],
                 "count": 1, "item": it, "finding": "late-start",
                 "note": f"{PARTY}现场录像开始过晚",
                 "officers": PEOPLE, "resolution": None if i % 2 else {
                     "by": PEOPLE[0], "at": T0, "note": "已约谈执法人员，责令改正"}}
                for i, it in enumerate(items)]
        return {"from": None, "to": T0, "rows": rows}
    if kind == "four_property":
        checks = [{"code": code, "name": name, "property": prop, "result": "pass",
                   "observed": "ab" * 32}
                  for code, (prop, name, _) in four_property.REREAD_CHECKS.items()]
        data = four_property.report("preservation", {
            "inspection": items[0]["id"], "at": T0, "by": PEOPLE[0],
            "lot": LOT,
            "plan": {"sample_size": n}, "copy": "primary"},
            [{"item": it, "checks": [c | {"result": "fail"} if i % 100 == 0 and
                                     c["code"] == "WZ-11" else c for c in checks]}
             for i, it in enumerate(items, 1)])
        return data
    raise KeyError(kind)


def all_text(data: object) -> str:
    """Every string of the data, to check the fonts against."""
    if isinstance(data, dict):
        return "".join(all_text(v) for v in data.values())
    if isinstance(data, list):
        return "".join(all_text(v) for v in data)
    return data if isinstance(data, str) else ""
