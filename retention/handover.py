"""The handover package as a receiver reads it, modelled on DA/T 93-2022 as its published
summaries describe it (the standard's own text was not at hand to check against: modelled on,
not conformant), inside a BagIt bag:

``data/说明文件.txt``      plain text: what is handed over, from whom, how many, what was checked
``data/文件目录.xml``      every record with its metadata, 题名 and 档号 (schema:
                          retention/schemas/transfer-catalog.xsd, namespace ``CATALOG_NS``)
``data/电子档案/``          the records themselves, each named by its 档号 (by its item id while it
                          has none: 档号 are given at 归档, after the handover is accepted) with
                          its real extension
``data/metadata/<item>/``  each record's signed metadata version, as stored
``data/transfer-manifest.json``  the archive-signed manifest naming all of the above by digest

:func:`verify_package` is the receiving archivist's check (DA/T 70-2018's four properties, per
record and for the package) on the package alone with the archive's public key: nothing of the
sending archive's catalog or store is read.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path

from archive.domain.model import Item, MetadataVersion
from archive.domain.names import (
    CONFIDENTIAL_ZH,
    KIND_ZH,
    TIER_ZH,
    local_iso,
    person_label,
)
from archive.integrity.signing import Keyring, fingerprint
from i18n import Text, localize

CATALOG_NS = "urn:custody:transfer-catalog:1"
EXPLANATION = "说明文件.txt"
CATALOG = "文件目录.xml"
RECORDS = "电子档案"
MANIFEST = "transfer-manifest.json"
SCHEMA = Path(__file__).parent / "schemas" / "transfer-catalog.xsd"
PROPERTIES = ("authenticity", "integrity", "usability", "security")
PROPERTY_ZH = {"authenticity": "真实性", "integrity": "完整性", "usability": "可用性",
               "security": "安全性"}
RESULT_ZH = {"pass": "通过", "fail": "不通过"}
DIGEST_ALGORITHMS = "SHA-256、SM3"
CARRIER_ZH = "在线移交（BagIt 数据包）"
# a content type as libmagic names it -> the extension a player expects
_MIME_EXTENSION = {"video/mp4": "mp4", "video/quicktime": "mov", "video/x-msvideo": "avi",
                   "video/avi": "avi", "video/3gpp": "3gp", "audio/x-wav": "wav",
                   "audio/wav": "wav", "audio/vnd.wave": "wav", "audio/mpeg": "mp3",
                   "audio/amr": "amr", "audio/amr-wb": "amr", "audio/mp4": "m4a",
                   "audio/x-m4a": "m4a", "image/jpeg": "jpg", "image/png": "png",
                   "image/tiff": "tif", "application/pdf": "pdf", "application/ofd": "ofd",
                   "application/json": "json", "text/csv": "csv", "text/xml": "xml",
                   "application/xml": "xml", "text/plain": "txt", "application/zip": "zip"}


# --- names of the records ---------------------------------------------------------------------
def record_extension(item: Item) -> str:
    """The extension that says what the bytes are, so that a person can play the file without
    custody: the original's when its content fits it, else the one of the content type found
    at ingest, else the original's, else ``bin``."""
    fmt = (item.checks or {}).get("format") or {}
    ext = str(fmt.get("extension") or "").lower()
    if ext and fmt.get("extension_matches"):
        return ext
    by_mime = _MIME_EXTENSION.get(str(fmt.get("mime") or "").lower())
    if by_mime:
        return by_mime
    original = str((item.description.source or {}).get("original_name") or "")
    tail = original.rsplit(".", 1)[-1].lower() if "." in original else ""
    return tail if tail.isalnum() and 0 < len(tail) <= 5 else "bin"


def record_name(item: Item, code: str | None) -> str:
    """A record's file name: its 档号 (or item id) and real extension; never its title or
    party, which are confidential and not file-name safe."""
    return f"{code or item.id}.{record_extension(item)}"


# --- the catalog XML and the explanation ------------------------------------------------------
def _sub(parent: ET.Element, tag: str, text: object = None, **attrs: object) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CATALOG_NS}}}{tag}",
                       {k: str(v) for k, v in attrs.items() if v not in (None, "")})
    if text not in (None, ""):
        el.text = str(text)
    return el


def catalog_xml(head: dict, rows: list[dict]) -> bytes:
    """文件目录.xml: the handover (``head``) and every record (``rows``, as
    :func:`catalog_row` makes them)."""
    ET.register_namespace("", CATALOG_NS)
    root = ET.Element(f"{{{CATALOG_NS}}}文件目录", {"版本": "1"})
    info = _sub(root, "移交信息")
    for tag, key in (("全宗号", "fonds"), ("年度", "year"), ("批次", "transfer")):
        _sub(info, tag, head[key])
    _sub(info, "移交人", head["prepared_by"]["name"], 标识=head["prepared_by"]["id"])
    _sub(info, "移交时间", head["prepared_at"])
    _sub(info, "件数", len(rows))
    _sub(info, "总字节数", sum(r["size"] for r in rows))
    _sub(info, "摘要算法", DIGEST_ALGORITHMS)
    _sub(info, "时区", head["zone"])
    listing = _sub(root, "电子档案列表")
    for n, r in enumerate(rows, 1):
        el = _sub(listing, "电子档案", 序号=n)
        _sub(el, "档号", r["archive_code"] or "")
        _sub(el, "题名", r["title"])
        _sub(el, "条目标识", r["item_id"])
        _sub(el, "门类", r["record_form"])
        _sub(el, "类别", KIND_ZH.get(r["kind"], r["kind"]), 代码=r["kind"])
        _sub(el, "单位", r["unit_name"] or r["unit"] or "", 代码=r["unit"])
        if r["device_id"]:
            _sub(el, "设备编号", r["device_id"])
        for tag, people in (("执法人员", r["officers"]), ("协助人员", r["assisting"])):
            for p in people:
                _sub(el, tag, p["name"] or p["id"], 标识=p["id"])
        for tag, key in (("开始时间", "recorded_start"), ("结束时间", "recorded_end"),
                         ("当事人", "party"), ("案由", "cause"), ("案件编号", "case_id")):
            if r[key]:
                _sub(el, tag, r[key])
        if r["activity_id"] or r["activity_type"]:
            _sub(el, "执法活动", 编号=r["activity_id"], 类型=r["activity_type"])
        if r["confidential"]:
            _sub(el, "保密类别", CONFIDENTIAL_ZH.get(r["confidential"]), 代码=r["confidential"])
        _sub(el, "保管级别", TIER_ZH.get(r["tier"], r["tier"]), 代码=r["tier"])
        _sub(el, "文件", 路径=r["file"], 格式=r["format"], 字节数=r["size"], SHA256=r["sha256"],
             SM3=r["sm3"])
        _sub(el, "元数据", 路径=r["metadata_file"], 版本=r["metadata_version"])
        _sub(el, "四性检测", **{PROPERTY_ZH[p]: RESULT_ZH[r["properties"][p]]
                                 for p in PROPERTIES})
        for code in r.get("findings") or []:
            _sub(el, "问题", code)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def catalog_row(item: Item, code: str | None, title: str, file: str, metadata_file: str,
                names: Mapping[str, str], unit_name: str | None, zone: tzinfo | None,
                properties: dict, findings: list[str]) -> dict:
    """One record of the 文件目录 (and of the signed manifest): plain data."""
    d = item.description
    d_ = item.current.digests
    return {"item_id": item.id, "archive_code": code, "title": title, "file": file,
            "format": file.rsplit(".", 1)[-1], "size": d_.size, "sha256": d_.sha256,
            "sm3": d_.sm3, "metadata_file": metadata_file, "metadata_version": item.version,
            "record_form": d.record_form, "kind": d.kind, "unit": d.unit,
            "unit_name": unit_name, "device_id": d.device_id,
            "officers": [{"id": o, "name": names.get(o)} for o in d.officers],
            "assisting": [{"id": o, "name": names.get(o)} for o in d.assisting],
            "recorded_start": local_iso(_iso(d.recorded_start), zone),
            "recorded_end": local_iso(_iso(d.recorded_end), zone), "party": d.party,
            "cause": d.cause, "case_id": d.case_id, "activity_id": d.activity_id,
            "activity_type": d.activity_type, "confidential": d.confidential,
            "tier": item.tier, "properties": properties, "findings": findings}


def _iso(dt) -> str | None:
    return None if dt is None else dt.isoformat()


def explanation(head: dict, rows: list[dict], withheld: list[dict], key_id: str) -> str:
    """说明文件: what, from whom, how many, what was checked, how the package is laid out."""
    size = sum(r["size"] for r in rows)
    coded = sum(1 for r in rows if r["archive_code"])
    failed = {p: sum(1 for r in rows if r["properties"][p] == "fail") for p in PROPERTIES}
    lines = [
        f"电子档案移交说明（{head['year']}年度 第{head['number']}批，批次 {head['transfer']}）", "",
        f"全宗号：{head['fonds']}",
        f"移交人：{person_label(head['prepared_by']['id'], head['prepared_by']['name'])}",
        f"移交时间：{head['prepared_at_local']}（{head['zone']}）",
        f"移交内容：{head['year']}年度执法音像记录、文书及电子数据",
        f"数量：{len(rows)} 件，{size} 字节；暂缓移交 {len(withheld)} 件（问题处理后另批移交）",
        f"已有档号：{coded} 件；其余档号在接收后归档时赋予，文件暂以条目标识命名",
        "",
        "检测：移交前逐件从WORM存储重读，按 DA/T 70-2018 做四性检测"
        "（真实性、完整性、可用性、安全性）：",
        *[f"  {PROPERTY_ZH[p]}：不通过 {failed[p]} 件" for p in PROPERTIES],
        f"摘要算法：{DIGEST_ALGORITHMS}；档案机构签名密钥指纹：{fingerprint(key_id)}",
        "",
        "包的结构（参照 DA/T 93-2022 公开介绍的结构编排，非符合性声明）：",
        f"  {EXPLANATION}  本说明",
        f"  {CATALOG}  文件目录：每件电子档案的元数据、题名、档号、文件名与摘要"
        "（XML，模式见 transfer-catalog.xsd）",
        f"  {RECORDS}/  电子档案本身，以档号（未编档号时以条目标识）加真实扩展名命名",
        "  metadata/  每件已签名的元数据版本",
        f"  {MANIFEST}  档案机构签名的移交清单（以上文件的摘要）",
        "  transfer-list-zh.txt、check-report-zh.txt  移交清单与四性检测报告（文本）",
        "",
        "接收方核验：custody transfer verify 本包 --key 档案机构公钥.pem（只需本包与公钥）。",
    ]
    return "\n".join(lines) + "\n"


# --- the receiver's check ---------------------------------------------------------------------
def _prop() -> dict:
    return {p: {"result": "pass", "problems": []} for p in PROPERTIES}


def _fail(props: dict, prop: str, code: str) -> None:
    props[prop]["result"] = "fail"
    if code not in props[prop]["problems"]:
        props[prop]["problems"].append(code)


def verify_package(path: Path, keys: Keyring, allowed_formats: dict | None = None,
                   key_source: str = "") -> dict:
    """The receiving archivist's check of a handover package, on the package alone: every
    record's four properties and the package's, and the data of the filled
    电子档案移交与接收登记表 (``form``). ``keys``: the archive public keys the receiver trusts.
    ``allowed_formats`` (config [formats]): the content of each record is identified and
    judged against its kind; without it usability is judged by the package's own records."""
    from archive.packaging.bags import check_bag, open_bag

    path = Path(path)
    bag = check_bag(path)
    pkg = _prop()
    problems: list[dict] = []

    def problem(prop: str, code: str, where: str, message: str | Text) -> None:
        # "message" English (JSON, receipts, logs), "text" in the reader's language
        _fail(pkg, prop, code)
        problems.append({"property": prop, "code": code, "path": where,
                         "message": str(message), "text": localize(message)})

    for p in bag.problems:
        # a file slipped in (or a path out of the bag) is a security matter; the rest integrity
        prop = "security" if p.code in ("unlisted", "tag-unlisted", "unsafe-path") else "integrity"
        problem(prop, f"bag-{p.code}", p.path, p.text)
    rows: list[dict] = []
    manifest: dict = {}
    with open_bag(path) as src:
        files = src.files()
        try:
            signed = json.loads(src.read_bytes(f"data/{MANIFEST}"))
            manifest = signed["manifest"]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            problem("authenticity", "no-manifest", f"data/{MANIFEST}",
                    Text("the signed transfer manifest cannot be read: {reason}",
                         reason=str(exc)))
            signed = {}
        if signed and not keys.verify(manifest, signed.get("key_id", ""),
                                      signed.get("signature", "")):
            problem("authenticity", "manifest-signature-invalid", f"data/{MANIFEST}",
                    Text("the transfer manifest does not verify with the archive key you "
                         "trust"))
        for name, key in ((CATALOG, "catalog_sha256"), (EXPLANATION, "explanation_sha256")):
            got = bag.digests.get(f"data/{name}")
            if manifest and (got is None or got.sha256 != manifest.get(key)):
                problem("authenticity", "file-not-signed", f"data/{name}",
                        Text("{file} is not the one the signed manifest names", file=name))
        listed_xml = _read_catalog(src, files, problem)
        declared = {f"data/{MANIFEST}", f"data/{CATALOG}", f"data/{EXPLANATION}",
                    "data/transfer-list-zh.txt", "data/check-report.json",
                    "data/check-report-zh.txt"}
        for r in manifest.get("items", []):
            rows.append(_check_record(src, path, files, bag, r, keys, listed_xml,
                                      allowed_formats, declared))
        if manifest and len(listed_xml) != len(manifest.get("items", [])):
            problem("integrity", "catalog-count", f"data/{CATALOG}",
                    Text("the file catalog (文件目录) lists {listed} records, the signed "
                         "manifest {signed}", listed=len(listed_xml),
                         signed=len(manifest.get("items", []))))
        for rel in sorted(files):
            if rel.startswith("data/") and rel not in declared:
                problem("security", "undeclared-file", rel,
                        Text("{file} is in the package but named by no signed record",
                             file=rel))
    for r in rows:
        for p in PROPERTIES:
            if r["properties"][p]["result"] == "fail":
                _fail(pkg, p, f"records-{p}")
    totals = {p: sum(1 for r in rows if r["properties"][p]["result"] == "fail")
              for p in PROPERTIES}
    ok = all(pkg[p]["result"] == "pass" for p in PROPERTIES)
    manifest_digest = bag.digests.get(f"data/{MANIFEST}")
    form = {"transfer": manifest.get("transfer"), "year": manifest.get("year"),
            "fonds": manifest.get("fonds"), "items": len(rows),
            "bytes": sum(r["size"] for r in rows),
            "withheld": len(manifest.get("withheld", [])),
            "coded": sum(1 for r in rows if r["archive_code"]),
            "carrier": CARRIER_ZH, "digest_algorithm": "SHA-256",
            "manifest_sha256": manifest_digest.sha256 if manifest_digest else None,
            "manifest_sm3": manifest_digest.sm3 if manifest_digest else None,
            "prepared_by": manifest.get("prepared_by"),
            "prepared_by_name": manifest.get("prepared_by_name"),
            "prepared_at": manifest.get("prepared_at"),
            "properties": {p: {"result": pkg[p]["result"], "failed_items": totals[p]}
                           for p in PROPERTIES}}
    return {"path": str(path), "ok": ok, "trusted_key": key_source,
            "transfer": manifest.get("transfer"), "package": pkg, "items": rows,
            "problems": problems, "form": form}


def _read_catalog(src, files, problem) -> dict[str, dict]:
    """item id -> what the 文件目录 says of it (file, digests, 档号, 题名)."""
    rel = f"data/{CATALOG}"
    if rel not in files:
        problem("usability", "no-catalog", rel,
                Text("the package has no file catalog (文件目录)"))
        return {}
    try:
        root = ET.fromstring(src.read_bytes(rel))
    except (OSError, ET.ParseError) as exc:
        problem("usability", "catalog-unreadable", rel,
                Text("the file catalog (文件目录) is not readable XML: {reason}",
                     reason=str(exc)))
        return {}
    ns = {"c": CATALOG_NS}
    out = {}
    for el in root.iterfind("c:电子档案列表/c:电子档案", ns):
        f = el.find("c:文件", ns)
        out[el.findtext("c:条目标识", "", ns)] = {
            "archive_code": el.findtext("c:档号", "", ns) or None,
            "title": el.findtext("c:题名", "", ns),
            "file": f.get("路径") if f is not None else None,
            "sha256": f.get("SHA256") if f is not None else None}
    return out


def _check_record(src, path: Path, files, bag, row: dict, keys: Keyring,
                  listed_xml: dict, allowed_formats: dict | None, declared: set) -> dict:
    props = _prop()
    item_id = row.get("item_id", "")
    rel = f"data/{row.get('file', '')}"
    mrel = f"data/{row.get('metadata_file', '')}"
    declared.update({rel, mrel})
    messages: list[str] = []
    version = None
    if mrel not in files:
        _fail(props, "authenticity", "metadata-missing")
    else:
        try:
            mdoc = json.loads(src.read_bytes(mrel))
            version = MetadataVersion.from_dict(mdoc)
            if not keys.verify(mdoc["manifest"], version.key_id, version.signature):
                _fail(props, "authenticity", "metadata-signature-invalid")
        except (OSError, KeyError, TypeError, ValueError) as exc:
            _fail(props, "authenticity", "metadata-unreadable")
            messages.append(f"{mrel}: {exc}")
    if version is not None and (version.item_id != item_id
                                or version.digests.sha256 != row.get("sha256")):
        _fail(props, "authenticity", "metadata-mismatch")
    xml = listed_xml.get(item_id)
    if xml is None or xml["file"] != row.get("file") or xml["sha256"] != row.get("sha256") \
            or (xml["archive_code"] or None) != (row.get("archive_code") or None) \
            or xml["title"] != row.get("title"):
        _fail(props, "authenticity", "catalog-mismatch")
    got = bag.digests.get(rel)
    if rel not in files:
        _fail(props, "integrity", "record-missing")
    elif got is None or got.size != row.get("size") or got.sha256 != row.get("sha256") \
            or got.sm3 != row.get("sm3"):
        _fail(props, "integrity", "digest-mismatch")
    elif got.size == 0:
        _fail(props, "usability", "empty")
    if allowed_formats and rel in files and Path(path).is_dir():
        from scanners.formats import check_format

        target = Path(path).joinpath(*rel.split("/"))
        kind = row.get("kind") or "data"
        try:
            with open(target, "rb") as f:
                head = f.read(65536)
            fmt = check_format(target, kind, head, allowed_formats)
            if fmt.damaged:
                _fail(props, "usability", "damaged")
            if not fmt.kind_allowed:
                _fail(props, "usability", "format-not-allowed")
            if fmt.extension_matches is False:
                _fail(props, "usability", "extension-mismatch")
        except (OSError, ValueError) as exc:
            _fail(props, "usability", "unreadable")
            messages.append(str(exc))
    # what the sender's full check found (附问题移交) stays a failed property here too
    for p, result in (row.get("properties") or {}).items():
        if p in props and result == "fail":
            _fail(props, p, "sender-finding")
    return {"item": item_id, "archive_code": row.get("archive_code"), "title": row.get("title"),
            "file": row.get("file"), "size": row.get("size", 0), "sha256": row.get("sha256"),
            "properties": props, "findings": row.get("findings") or [], "messages": messages}
