"""The March handover (移交): records of year N checked and handed to the archivists.

``prepare`` re-reads every item of the year from the WORM store (digests, the signed metadata
version, the lock: ``verification.verify_item``), sorts the results into the four properties of
the transfer-stage check (四性检测), withholds what fails, and writes a BagIt bag: the transfer
list (移交清单), the check report, the archive-signed transfer manifest and each item's signed
metadata version as stored. The object bytes stay in the WORM store; the manifest names them
by digest, key and version id. ``accept`` is the receipt of a second archivist, signed with
their own key and stored write-once.

Transfers of a year are numbered: a re-run of ``prepare`` after a fix (or for records that
arrived late) makes the next one with what no accepted transfer holds yet; a prepared transfer
that nobody accepted is superseded by the next.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from archive import people
from archive.access.lookup import codes_by_item, people_names
from archive.domain.canonical import canonical
from archive.domain.errors import IdentityError, InputError, NotFound, ProblemFound
from archive.domain.model import Item, iso
from archive.domain.names import CHECK_PROBLEM_ZH, KIND_ZH, local_iso, local_time, zone_label
from archive.domain.titles import title_of
from archive.integrity.signing import Keyring, fingerprint, public_pem
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.verification import MediaProbe, verify_item
from i18n import N_, Text
from retention import handover
from retention.policy import CyclePolicy, items_of_year

ROLES = ("archivist",)
PROPERTY_OF = {"digest-mismatch": "integrity", "object-unreadable": "integrity",
               "manifest-unreadable": "authenticity", "signature-invalid": "authenticity",
               "manifest-mismatch": "authenticity", "media-unreadable": "usability",
               "duration-changed": "usability", "lock-missing": "security",
               "lock-too-short": "security", "legal-hold-missing": "security",
               "pending-metadata": "usability", "ingest-virus-check": "security",
               # found at ingest in the original bytes: a re-read cannot clear them
               "ingest-truncated": "integrity", "ingest-empty": "integrity",
               "ingest-unreadable": "usability", "ingest-format-not-allowed": "usability",
               "ingest-extension-mismatch": "usability", "ingest-no-video-track": "usability",
               "ingest-encrypted": "usability", "ingest-time-inconsistent": "authenticity",
               "ingest-record-inconsistent": "authenticity",
               "ingest-faulty-device": "authenticity", "ingest-no-source": "authenticity"}
PROPERTY_ZH = {"authenticity": "真实性", "integrity": "完整性", "usability": "可用性",
               "security": "安全性"}
# why a record is reported: a verification's problem by its one name (names.py), and what
# only the handover reports
REASON_ZH = CHECK_PROBLEM_ZH | {
    "pending-metadata": "元数据不全（待补录）",
    "ingest-virus-check": "入库病毒检测无记录",
    "ingest-truncated": "入库检测：文件截断",
    "ingest-empty": "入库检测：空文件",
    "ingest-unreadable": "入库检测：文件损坏无法读取",
    "ingest-format-not-allowed": "入库检测：格式不符合该类别",
    "ingest-extension-mismatch": "入库检测：扩展名与内容不符",
    "ingest-no-video-track": "入库检测：无视频轨",
    "ingest-encrypted": "入库检测：文件加密",
    "ingest-time-inconsistent": "入库检测：媒体时间与申报时间不一致",
    "ingest-record-inconsistent": "入库检测：与笔录时间不一致",
    "ingest-faulty-device": "入库检测：设备已标记故障",
    "ingest-no-source": "入库检测：来源未记录",
}
# format problem codes (scanners.formats) as transfer findings; pdf_xref_offset is left out:
# readers repair it, the file is usable
_FORMAT_FINDING = {"truncated": "ingest-truncated", "empty": "ingest-empty",
                   "kind_not_allowed": "ingest-format-not-allowed",
                   "extension_mismatch": "ingest-extension-mismatch",
                   "no_video_track": "ingest-no-video-track",
                   "pdf_encrypted": "ingest-encrypted"}
_FORMAT_DAMAGE = frozenset({"media_unreadable", "no_streams", "no_duration", "pdf_no_header",
                            "pdf_no_startxref", "pdf_bad_xref"})
# failed lines of the ingest four-property report that a re-read does not judge again (the
# digests, signature and lock are re-read; required metadata is judged on the current version;
# a device's file-number gap is the device's, not this file's)
_FOUR_PROPERTY_FINDING = {"time consistency": "ingest-time-inconsistent",
                          "source recorded": "ingest-no-source", "size": "ingest-empty",
                          "not truncated": "ingest-truncated",
                          "format allowed": "ingest-format-not-allowed",
                          "readable": "ingest-unreadable", "not encrypted": "ingest-encrypted"}


def ingest_findings(item: Item) -> list[str]:
    """What the checks at ingest found wrong with the original bytes or their times. They stay
    true of the item whatever a later re-read or metadata completion shows: the bytes are
    the same bytes."""
    checks = item.checks or {}
    found: list[str] = []
    fmt = checks.get("format") or {}
    for p in fmt.get("problems") or []:
        code = p.get("code", "")
        if code in _FORMAT_FINDING:
            found.append(_FORMAT_FINDING[code])
        elif code in _FORMAT_DAMAGE or code.startswith("ofd_"):
            found.append("ingest-unreadable")
    if fmt.get("truncated"):
        found.append("ingest-truncated")
    if fmt.get("damaged") and not found:
        found.append("ingest-unreadable")
    if (checks.get("consistency") or {}).get("result") == "fail":
        found.append("ingest-time-inconsistent")
    if (checks.get("written_record") or {}).get("result") == "fail":
        found.append("ingest-record-inconsistent")
    if (checks.get("device") or {}).get("status") == "faulty":
        found.append("ingest-faulty-device")
    for entry in checks.get("four_property") or []:
        code = _FOUR_PROPERTY_FINDING.get(entry.get("check", ""))
        if code and entry.get("result") == "fail":
            found.append(code)
    return list(dict.fromkeys(found))


def transfer_of(archive: Archive, transfer_id: str) -> dict:
    """One transfer's record; refused for a transfer that does not exist."""
    doc = archive.catalog.get_record("transfers", transfer_id)
    if doc is None:
        raise NotFound(N_("no transfer {transfer} (custody transfer list)"),
                       transfer=transfer_id, subject=transfer_id)
    return doc


def transfers_of(archive: Archive, year: int) -> list[dict]:
    docs = archive.catalog.list_records("transfers", year=year)
    return sorted(docs, key=lambda d: d["number"])


def accepted_items(archive: Archive, year: int) -> dict[str, str]:
    """item id -> the accepted transfer that holds it."""
    out: dict[str, str] = {}
    for t in transfers_of(archive, year):
        if t["status"] == "accepted":
            for item_id in t["items"]:
                out.setdefault(item_id, t["id"])
    return out


def _property_report(item: Item, result: dict) -> dict:
    """The four properties of one item at the transfer stage, each pass or fail: ``problems``
    from the re-read now, ``findings`` recorded at ingest (a failed property either way)."""
    failed: dict[str, list[str]] = {p: [] for p in PROPERTY_ZH}
    found: dict[str, list[str]] = {p: [] for p in PROPERTY_ZH}
    for p in result["problems"]:
        if p["code"] == "ingest-finding":  # verify repeats what ingest found: counted below
            continue
        failed[PROPERTY_OF.get(p["code"], "integrity")].append(p["code"])
    virus = (item.checks or {}).get("virus") or {}
    virus = virus.get("virus", virus)  # ingest keeps the verdict under checks.virus.virus
    if virus and virus.get("status", "clean") != "clean":
        failed["security"].append("ingest-virus-check")
    for code in ingest_findings(item):
        found[PROPERTY_OF[code]].append(code)
    return {p: {"result": "fail" if failed[p] or found[p] else "pass", "problems": failed[p]}
            | ({"findings": found[p]} if found[p] else {}) for p in PROPERTY_ZH}


def check_items(archive: Archive, items: list[Item], media_probe: MediaProbe | None = None,
                progress: Callable[[int], None] | None = None) -> tuple[list[dict], list[dict]]:
    """(passed, withheld): every item re-read from the store, none sampled.

    A problem the re-read finds now withholds the item until it is fixed (restored). What the
    checks found wrong with the original at ingest (a truncated or unreadable file, times that
    contradict the declared ones) cannot be fixed in a WORM archive: the item is handed over
    with those findings named and its properties failed (附问题移交), never as sound."""
    passed, withheld = [], []
    for item in items:
        if item.status == "pending-metadata":
            findings = ingest_findings(item)
            props = {p: {"result": "pass", "problems": []} for p in PROPERTY_ZH}
            props["usability"] = {"result": "fail", "problems": ["pending-metadata"]}
            for code in findings:
                prop = props[PROPERTY_OF[code]]
                prop["result"] = "fail"
                prop.setdefault("findings", []).append(code)
            withheld.append({"item": item.id, "unit": item.description.unit,
                             "reasons": ["pending-metadata"], "findings": findings,
                             "properties": props, "missing": item.description.missing()})
        else:
            res = verify_item(archive, item, media_probe)
            props = _property_report(item, res)
            bad = [c for p in props.values() for c in p["problems"]]
            findings = [c for p in props.values() for c in p.get("findings", [])]
            row = {"item": item.id, "unit": item.description.unit, "properties": props,
                   "earlier_attention": item.status == "attention", "findings": findings}
            if bad:
                withheld.append(row | {"reasons": bad, "messages": [
                    p["message"] for p in res["problems"] if p["code"] != "ingest-finding"]})
            else:
                passed.append(row)
        if progress:
            progress(1)
    return passed, withheld


def _package_record(archive: Archive, bag, item: Item, code: str | None,
                    names: dict[str, str], policy: CyclePolicy, properties: dict,
                    findings: list[str]) -> dict:
    """Copy one record and its signed metadata version into the package; its catalog row."""
    zone = policy.zone_of(item.description.unit)
    file = f"{handover.RECORDS}/{handover.record_name(item, code)}"
    obj = item.storage["object"]
    got = bag.add_stream(file, archive.store.read(obj["key"], obj["version_id"]))
    if got != item.current.digests:
        raise ProblemFound(N_("item {item}: the store returned {got}… ({size} bytes), the "
                              "signed digest is {signed}…; no package written (restore the "
                              "object first)"), item=item.id, got=got.sha256[:16],
                           size=got.size, signed=item.sha256[:16], subject=item.id)
    ref = item.storage["manifests"][-1]
    metadata_file = f"metadata/{item.id}/v{ref['version']:04d}.json"
    bag.add_bytes(metadata_file, archive.store.read_bytes(ref["key"], ref["version_id"]))
    unit_name = (policy.units.get(item.description.unit or "") or {}).get("name")
    return handover.catalog_row(item, code, title_of(item.description, zone, names), file,
                                metadata_file, names, unit_name, zone, properties, findings)


def _named(row: dict) -> dict:
    """What the signed manifest says of a record beyond its digests: its names in the
    package, so that a renamed or re-titled file is caught by the receiver."""
    return {k: row[k] for k in ("archive_code", "title", "file", "metadata_file",
                                "properties")}


def _manifest_row(item: Item, findings: list[str] | None = None) -> dict:
    obj = item.storage["object"]
    ref = item.storage["manifests"][-1]
    d = item.current.digests
    row = {"item_id": item.id, "unit": item.description.unit, "kind": item.description.kind,
           "sha256": d.sha256, "sm3": d.sm3, "size": d.size,
           "object": {"key": obj["key"], "version_id": obj["version_id"]},
           "metadata": {"version": item.version, "key": ref["key"],
                        "version_id": ref["version_id"]},
           "tier": item.tier}
    return row | ({"findings": findings} if findings else {})


def prepare(archive: Archive, actor: Actor, policy: CyclePolicy, year: int, out_dir: Path,
            now: datetime, media_probe: MediaProbe | None = None,
            progress: Callable[[int], None] | None = None,
            total: Callable[[int], None] | None = None) -> dict:
    """Check every item of year N not yet in an accepted transfer; write the package; file
    it as prepared (the command line's one step: :func:`draft` then :func:`file_prepared`).
    ``total`` is told how many items will be checked, ``progress`` each one done."""
    made = draft(archive, actor, policy, year, out_dir, now, media_probe, progress, total)
    return file_prepared(archive, actor, made, now) | {"listing": made["listing"]}


@people.records_refusals("transfer prepare")
def draft(archive: Archive, actor: Actor, policy: CyclePolicy, year: int, out_dir: Path,
          now: datetime, media_probe: MediaProbe | None = None,
          progress: Callable[[int], None] | None = None,
          total: Callable[[int], None] | None = None) -> dict:
    """The long part of a preparation: every item re-read and checked, the package written
    and its manifest signed by the archive, nothing filed (no transfer record, nothing in the
    store, no ledger entry): a console job makes this, and the person files it afterwards
    with their passkey (:func:`file_prepared`). Returns the draft (JSON) naming the package
    and the digest of its signed manifest."""
    from archive.packaging.bags import BagWriter

    people.require_role(archive.catalog, actor, ROLES, N_("prepare a transfer"))
    out_dir = Path(out_dir)
    done = accepted_items(archive, year)
    items = [i for i in items_of_year(archive.catalog, policy, year) if i.id not in done]
    if not items:
        raise InputError(N_("year {year}: nothing left to transfer ({n} items already in "
                            "accepted transfers)"), year=year, n=len(done))
    items.sort(key=lambda i: (i.description.unit or "", i.id))
    if total is not None:
        total(len(items))
    passed, withheld = check_items(archive, items, media_probe, progress)
    earlier = transfers_of(archive, year)
    number = (earlier[-1]["number"] + 1) if earlier else 1
    tid = f"{year}-{number:02d}"
    by_id = {i.id: i for i in items}
    codes = codes_by_item(archive.catalog, by_id)
    names = people_names(archive.catalog, {actor.person_id} | {
        p for i in items for p in (*i.description.officers, *i.description.assisting)})
    head = {"fonds": policy.fonds, "year": year, "number": number, "transfer": tid,
            "prepared_by": {"id": actor.person_id, "name": names.get(actor.person_id)},
            "prepared_at": local_iso(iso(now), policy.zone),
            "prepared_at_local": local_time(iso(now), policy.zone),
            "zone": zone_label(policy.zone)}
    root = out_dir / f"transfer-{tid}"
    bag = BagWriter(root, {"Source-Organization": policy.fonds,
                           "External-Identifier": f"{policy.fonds}-{tid}",
                           "External-Description": f"{year}年度电子档案移交（第{number}批）",
                           "Contact-Name": actor.person_id})
    rows = []
    for r in passed:  # the records themselves, named by 档号, checked as they are copied
        item = by_id[r["item"]]
        rows.append(_package_record(archive, bag, item, codes.get(item.id), names, policy,
                                    {p: v["result"] for p, v in r["properties"].items()},
                                    r["findings"]))
    catalog = handover.catalog_xml(head, rows)
    explanation = handover.explanation(head, rows, withheld, archive.key.key_id)
    manifest = {"type": "custody.transfer-manifest", "transfer": tid, "year": year,
                "fonds": policy.fonds, "number": number, "prepared_at": iso(now),
                "prepared_by": actor.person_id,
                "prepared_by_name": names.get(actor.person_id),
                "archive_key": archive.key.key_id,
                "catalog_sha256": _sha256(catalog), "explanation_sha256": _sha256(
                    explanation.encode("utf-8")),
                "items": [_manifest_row(by_id[r["item"]], r["findings"]) | _named(row)
                          for r, row in zip(passed, rows, strict=True)],
                "withheld": [{"item": w["item"], "reasons": w["reasons"]} for w in withheld]}
    signed = {"manifest": manifest, "key_id": archive.key.key_id,
              "signature": archive.key.sign(manifest)}
    report = {"type": "custody.transfer-check", "transfer": tid, "year": year,
              "stage": "移交", "at": iso(now), "method": "全检：每件从WORM存储重读摘要、签名与锁",
              "checked": len(items), "passed": passed, "withheld": withheld}
    listing = render_list_zh(manifest, withheld, policy, fingerprint(archive.key.key_id))
    bag.add_bytes(handover.EXPLANATION, explanation.encode("utf-8"))  # 说明文件
    bag.add_bytes(handover.CATALOG, catalog)  # 文件目录
    bag.add_bytes("transfer-list-zh.txt", listing.encode("utf-8"))  # 移交清单
    bag.add_bytes("check-report.json", _json(report))
    bag.add_bytes("check-report-zh.txt", render_check_zh(report).encode("utf-8"))  # 四性检测报告
    bag.add_bytes(handover.MANIFEST, _json(signed))
    bag.add_tag_file("custody/keys/archive.pem", public_pem(archive.key.public).encode())
    bag.finish()
    return {"type": "custody.transfer-draft", "transfer": tid, "year": year,
            "number": number, "prepared_by": actor.person_id, "prepared_at": iso(now),
            "package": str(root), "manifest_sha256": _sha256(canonical(signed)),
            "checked": len(items), "items": len(manifest["items"]),
            "withheld": manifest["withheld"],
            "with_findings": sum(1 for r in manifest["items"] if r.get("findings")),
            "listing": listing}


def _drafted_manifest(archive: Archive, made: dict) -> dict:
    """The signed manifest of a draft's package, when it is still the one drafted."""
    path = Path(made["package"]) / "data" / handover.MANIFEST
    try:
        signed = json.loads(path.read_bytes())
        same = _sha256(canonical(signed)) == made["manifest_sha256"]
    except (OSError, ValueError):
        signed, same = {}, False
    if not same or not archive.archive_keys.verify(signed.get("manifest", {}),
                                                   signed.get("key_id", ""),
                                                   signed.get("signature", "")):
        raise ProblemFound(N_("transfer {transfer}: the package at {path} is not the one "
                              "drafted; prepare again"), transfer=made["transfer"],
                           path=made["package"], subject=made["transfer"])
    return signed


def drafted(archive: Archive, made: dict) -> dict:
    """The archive-signed manifest of a draft's package (what it hands over and withholds),
    refused when the package is no longer the one drafted."""
    return _drafted_manifest(archive, made)["manifest"]


@people.records_refusals("transfer prepare")
def check_draft(archive: Archive, actor: Actor, made: dict) -> dict:
    """Whether ``actor`` may file ``made`` now (see :func:`_check_draft`); the refusal is
    recorded. The signed manifest."""
    return _check_draft(archive, actor, made)


def _check_draft(archive: Archive, actor: Actor, made: dict) -> dict:
    """Whether ``actor`` may file ``made`` as the prepared transfer now (refused otherwise,
    nothing written): an archivist, the person who drafted it (the manifest names them as
    the preparer), no transfer of the year made since, none of its items accepted since and
    each still at the metadata version the package holds. The signed manifest."""
    people.require_role(archive.catalog, actor, ROLES, N_("prepare a transfer"))
    if made.get("type") != "custody.transfer-draft":
        raise InputError(N_("this is not a transfer draft"))
    tid, year = made["transfer"], made["year"]
    if made["prepared_by"] != actor.person_id:
        raise IdentityError(N_("transfer {transfer} was drafted by {owner}; only they may "
                               "sign it as prepared"), transfer=tid, owner=made["prepared_by"],
                            subject=actor.person_id)
    earlier = transfers_of(archive, year)
    if (earlier[-1]["number"] + 1 if earlier else 1) != made["number"]:
        raise InputError(N_("year {year}: transfer {other} was made after this draft "
                            "({transfer}); prepare again"), year=year, transfer=tid,
                         other=earlier[-1]["id"] if earlier else "-", subject=tid)
    signed = _drafted_manifest(archive, made)
    done = accepted_items(archive, year)
    for row in signed["manifest"]["items"]:
        if row["item_id"] in done:
            raise InputError(N_("transfer {transfer}: item {item} was accepted in another "
                                "transfer since this draft; prepare again"), transfer=tid,
                             item=row["item_id"], subject=tid)
        if archive.item(row["item_id"]).version != row["metadata"]["version"]:
            raise InputError(N_("transfer {transfer}: item {item} has a new metadata version "
                                "since this draft; prepare again"), transfer=tid,
                             item=row["item_id"], subject=tid)
    return signed


@people.records_refusals("transfer prepare")
def file_prepared(archive: Archive, actor: Actor, made: dict, now: datetime) -> dict:
    """File a draft (:func:`draft`) as the year's prepared transfer: its manifest stored
    write-once, an earlier prepared transfer superseded, the record signed by the preparer
    and the ledger's ``transfer-prepared`` entry (a decision: at the console, signed with
    the preparer's passkey). Everything :func:`check_draft` checks is checked again here."""
    signed = _check_draft(archive, actor, made)
    manifest = signed["manifest"]
    tid, year, number = made["transfer"], made["year"], made["number"]
    until = now + timedelta(days=366 * archive.ledger.checkpoint_years)
    stored = archive.store.put_blob(f"transfers/{year}/{number:02d}/manifest.json",
                                    canonical(signed), until)
    for t in transfers_of(archive, year):
        if t["status"] == "prepared":
            t["status"] = "superseded"
            t["superseded_by"] = tid
            archive.catalog.put_record("transfers", t["id"], t)
    record = {"id": tid, "year": year, "number": number, "status": "prepared",
              "prepared_by": actor.person_id, "prepared_at": made["prepared_at"],
              "items": [r["item_id"] for r in manifest["items"]],
              "withheld": manifest["withheld"], "package": made["package"],
              "manifest": {"key": stored.key, "version_id": stored.version_id,
                           "sha256": _sha256(canonical(signed))}}
    record["preparer_signature"] = {"key_id": actor.key.key_id,
                                    "signature": actor.key.sign(_signable(record))}
    archive.catalog.put_record("transfers", tid, record)
    archive.ledger.append(actor, "transfer-prepared", tid,
                          {"year": year, "items": len(record["items"]),
                           "withheld": len(manifest["withheld"]), "manifest": stored.key,
                           "manifest_sha256": record["manifest"]["sha256"]})
    return record


def verify_package(path: Path, key_file: Path | None = None, keys: Keyring | None = None,
                   allowed_formats: dict | None = None) -> dict:
    """The receiving archivist's check of a handover package on the package alone (DA/T 70's
    four properties per record and for the package) and the filled 登记表's data, against
    the archive public key in ``key_file`` (PEM) or the ``keys`` of this home."""
    from archive.access.export import trusted_keyring

    path = Path(path)
    if not path.exists():
        raise InputError(N_("no package at {path}"), path=str(path), subject=str(path))
    if key_file is not None:
        keys, kid = trusted_keyring(key_file, None, None)
        source = fingerprint(kid)
    elif keys is None:
        raise InputError(N_("give the archive public key you trust: --key FILE"))
    else:
        source = "this archive's keys"
    return handover.verify_package(path, keys, allowed_formats, source)


@people.records_refusals("transfer accept")
def check_accept(archive: Archive, actor: Actor, year: int) -> dict:
    """The prepared transfer of year N that ``actor`` may accept now (an archivist who did
    not prepare it); refused (and recorded) otherwise, nothing written."""
    return _may_accept(archive, actor, year)


def _may_accept(archive: Archive, actor: Actor, year: int) -> dict:
    people.require_role(archive.catalog, actor, ROLES, N_("accept a transfer"))
    pending = [t for t in transfers_of(archive, year) if t["status"] == "prepared"]
    if not pending:
        raise NotFound(N_("year {year}: no prepared transfer waits for acceptance (custody "
                          "transfer prepare first)"), year=year)
    t = pending[-1]
    if t["prepared_by"] == actor.person_id:
        raise IdentityError(N_("transfer {transfer} was prepared by {person}; another "
                               "archivist must accept it"), transfer=t["id"],
                            person=actor.person_id, subject=actor.person_id)
    return t


@people.records_refusals("transfer accept")
def accept(archive: Archive, actor: Actor, year: int, now: datetime,
           package: Path | None = None, allowed_formats: dict | None = None) -> dict:
    """The receipt of the accepting archivist (not the preparer), signed with their key,
    recording the receiver's check of the package (``package``, else where it was written):
    a package that is not the one prepared (authenticity or integrity failed) is refused;
    what the check found of usability and security is recorded in the receipt."""
    t = _may_accept(archive, actor, year)
    ref = t["manifest"]
    doc = json.loads(archive.store.read_bytes(ref["key"], ref["version_id"]))
    if (_sha256(canonical(doc)) != ref["sha256"]
            or not archive.archive_keys.verify(doc["manifest"], doc["key_id"],
                                               doc["signature"])):
        raise ProblemFound(N_("transfer {transfer}: the stored manifest does not verify; "
                              "nothing accepted"), transfer=t["id"], subject=t["id"])
    check, report = _check_for_acceptance(t, doc, Path(package or t["package"]), archive,
                                          allowed_formats)
    receipt = {"type": "custody.transfer-receipt", "transfer": t["id"], "year": year,
               "manifest_sha256": ref["sha256"], "items": len(t["items"]),
               "withheld": len(t["withheld"]), "prepared_by": t["prepared_by"],
               "accepted_by": actor.person_id, "accepted_at": iso(now),
               "package_check": check}
    signed = {"receipt": receipt, "key_id": actor.key.key_id,
              "signature": actor.key.sign(receipt)}
    until = now + timedelta(days=366 * archive.ledger.checkpoint_years)
    stored = archive.store.put_blob(f"transfers/{year}/{t['number']:02d}/receipt.json",
                                    canonical(signed), until)
    t["status"] = "accepted"
    t["receipt"] = signed | {"key": stored.key, "version_id": stored.version_id}
    archive.catalog.put_record("transfers", t["id"], t)
    archive.ledger.append(actor, "transfer-accepted", t["id"],
                          {"year": year, "items": len(t["items"]), "receipt": stored.key,
                           "package_check": {"ok": check["ok"], "failed": {
                               p: v["failed_items"] for p, v in check["properties"].items()}}})
    # the whole check, for a face that issues its 四性检测报告 (not stored: the receipt is)
    return t | {"package_report": report}


def _check_for_acceptance(t: dict, stored: dict, package: Path, archive: Archive,
                          allowed_formats: dict | None) -> tuple[dict, dict]:
    """The receiver's check of the package, as the receipt records it, and in full."""
    if not package.exists():
        raise InputError(N_("transfer {transfer}: no package at {path}; give the package "
                            "received (--package)"), transfer=t["id"], path=str(package),
                         subject=t["id"])
    report = handover.verify_package(package, archive.archive_keys, allowed_formats,
                                     "this archive's keys")
    try:
        carried = json.loads((package / "data" / handover.MANIFEST).read_bytes())
        same = canonical(carried) == canonical(stored)
    except (OSError, ValueError):
        same = False
    # what the sender's check found and handed over (附问题移交) is known and recorded; a
    # record or a package altered since is not the transfer prepared
    bad = [f"{p['code']}: {p['path']}" for p in report["problems"]
           if p["property"] in ("authenticity", "integrity")]
    bad += [f"{r['item']}: {c}" for r in report["items"]
            for prop in ("authenticity", "integrity")
            for c in r["properties"][prop]["problems"] if c != "sender-finding"]
    if bad or not same:
        why = "; ".join(bad[:5]) or Text("its manifest is not the one stored for this "
                                         "transfer")
        raise ProblemFound(N_("transfer {transfer}: the package at {path} is not the one "
                              "prepared ({why}); nothing accepted"), transfer=t["id"],
                           path=str(package), why=why, subject=t["id"])
    return {"ok": report["ok"], "path": str(package), "properties": report["form"]["properties"],
            "items": report["form"]["items"], "bytes": report["form"]["bytes"],
            "manifest_sha256": report["form"]["manifest_sha256"],
            "problems": [{k: p[k] for k in ("property", "code", "path")}
                         for p in report["problems"]]}, report


def verify_receipt(archive: Archive, transfer: dict) -> bool:
    """The receipt verifies against the accepting person's registered keys."""
    r = transfer.get("receipt")
    if not r:
        return False
    by = r["receipt"].get("accepted_by") or transfer.get("accepted_by")
    ring = people.person_keyrings(archive.catalog).get(by)
    return ring is not None and ring.verify(r["receipt"], r["key_id"], r["signature"])


def render_receipt_zh(t: dict, policy: CyclePolicy) -> str:
    r = t["receipt"]["receipt"]
    return "\n".join([
        "电子档案移交接收回执",
        f"移交批次 {r['transfer']}  年度 {r['year']}",
        f"移交件数 {r['items']}  暂缓移交 {r['withheld']}",
        f"移交人 {r['prepared_by']}  接收人 {r['accepted_by']}  "
        f"接收时间 {_local(r['accepted_at'], policy)}",
        f"移交清单摘要(SHA-256) {r['manifest_sha256']}",
        *_check_lines(r.get("package_check")),
        f"接收人签名密钥 {fingerprint(t['receipt']['key_id'])}"])


def _check_lines(check: dict | None) -> list[str]:
    if not check:
        return []
    props = "  ".join(f"{handover.PROPERTY_ZH[p]} {handover.RESULT_ZH[v['result']]}"
                      + (f"（{v['failed_items']} 件不通过）" if v["failed_items"] else "")
                      for p, v in check["properties"].items())
    return [f"接收核验（四性检测） {props}"]


def render_list_zh(manifest: dict, withheld: list[dict], policy: CyclePolicy,
                   key_fp: str) -> str:
    lines = [f"电子档案移交清单（{manifest['year']}年度 第{manifest['number']}批）",
             f"全宗号 {manifest['fonds']}  批次 {manifest['transfer']}",
             f"移交人 {manifest['prepared_by']}  "
             f"制表时间 {_local(manifest['prepared_at'], policy)}",
             f"档案机构签名密钥指纹 {key_fp}",
             f"移交 {len(manifest['items'])} 件  暂缓移交 {len(withheld)} 件", "",
             "序号  档号  题名  文件  单位  类型  大小(字节)  SHA-256"]
    for n, r in enumerate(manifest["items"], 1):
        lines.append(f"{n:>4}  {r.get('archive_code') or '（未编档号）'}  {r.get('title') or '-'}"
                     f"  {r.get('file') or r['item_id']}  {r['unit'] or '-'}  "
                     f"{KIND_ZH.get(r['kind'], r['kind'])}  {r['size']}  {r['sha256']}")
    with_findings = [r for r in manifest["items"] if r.get("findings")]
    if with_findings:
        lines += ["", "附问题移交（原件入库时已检出，不可修复，如实移交）"]
        for r in with_findings:
            lines.append(f"  {r['item_id']}  {r['unit'] or '-'}  "
                         + "；".join(REASON_ZH.get(c, c) for c in r["findings"]))
    if withheld:
        lines += ["", "暂缓移交（问题处理后重新移交）"]
        for w in withheld:
            lines.append(f"  {w['item']}  {w['unit'] or '-'}  "
                         + "；".join(REASON_ZH.get(c, c) for c in w["reasons"]))
    lines += ["", "对象字节保存在WORM存储中，以摘要和版本号引用；本包含每件已签名的元数据版本。",
              "移交人签字：            接收人签字：            日期："]
    return "\n".join(lines) + "\n"


def render_check_zh(report: dict) -> str:
    rows = report["passed"] + report["withheld"]
    with_findings = [r for r in report["passed"] if r.get("findings")]
    lines = [f"四性检测报告（移交阶段）  批次 {report['transfer']}  {report['year']}年度",
             f"检测方法 {report['method']}；入库检测发现的原件问题一并计入",
             f"检测 {report['checked']} 件  通过 {len(report['passed']) - len(with_findings)} 件"
             f"  附问题移交 {len(with_findings)} 件  暂缓 {len(report['withheld'])} 件"]
    for prop, zh in PROPERTY_ZH.items():
        bad = sum(1 for r in rows if r["properties"].get(prop, {}).get("result") == "fail")
        lines.append(f"  {zh}：不通过 {bad} 件")

    def named(codes: list[str]) -> str:
        return "；".join(f"{PROPERTY_ZH[PROPERTY_OF.get(c, 'integrity')]}-{REASON_ZH.get(c, c)}"
                        for c in codes)

    for w in report["withheld"]:
        lines.append(f"  {w['item']}  暂缓  " + named(w["reasons"] + w.get("findings", [])))
    for r in with_findings:
        lines.append(f"  {r['item']}  附问题移交  " + named(r["findings"]))
    return "\n".join(lines) + "\n"


def _local(at: str, policy: CyclePolicy) -> str:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(
        policy.zone).strftime("%Y-%m-%d %H:%M %Z")


def _signable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("preparer_signature", "status",
                                                         "superseded_by", "receipt")}


def _json(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def list_transfers(archive: Archive, year: int | None = None) -> list[dict]:
    """Transfers (of year N) with their state and receipts, one summary row each."""
    docs = archive.catalog.list_records("transfers", **({"year": year} if year else {}))
    return [{"id": d["id"], "year": d["year"], "status": d["status"],
             "items": len(d["items"]), "withheld": len(d["withheld"]),
             "prepared_by": d["prepared_by"],
             "accepted_by": (d.get("receipt") or {}).get("receipt", {}).get("accepted_by")}
            for d in docs]
