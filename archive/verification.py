"""Sampled machine-read verification (定期抽样机读检验) and the inspection ledger (检查台帐).

Each sampled item is read back from the WORM store by version id (SHA-256 and SM3 in one
pass), its signed metadata version is read from the store and verified, its lock is read from
the store and compared with what the catalog says its rules require, and a recording is
parsed again for its duration. Every run, and every conduct spot check (回放检查), is an
inspection record signed by the inspector, kept in the catalog and in the WORM store.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import BinaryIO

from archive import people
from archive.catalog.base import Catalog, Query, parse_query_text
from archive.catalog.consistency import SIGNATURE_INVALID, item_index_problems
from archive.copies.sync import Throttle
from archive.domain.canonical import canonical
from archive.domain.errors import CustodyError, IdentityError, InputError
from archive.domain.ids import uuid7
from archive.domain.model import Item, MetadataVersion, iso, parse_iso
from archive.domain.names import CHECK_PROBLEM_ZH
from archive.domain.sampling import acceptance, lot_verdict, sample_size
from archive.domain.sampling import draw as draw_sample
from archive.integrity.fixity import StreamDigests
from archive.ledger.chain import Actor
from archive.service import Archive, event
from archive.worm.base import WormStore
from config.settings import Settings
from i18n import N_, Text, localize

MediaProbe = Callable[[BinaryIO], float | None]  # duration in seconds, None if unparseable
FINDINGS = {"late-start": "录像开始过晚", "no-notice": "未事先告知当事人",
            "unrelated": "含无关内容", "interrupted": "中断未说明", "other": "其他"}
# What to do about each problem: stored in English with the problem, shown in the reader's
# language (the catalog holds each sentence whole)
ACTIONS = {
    "ingest-finding": N_("the original was already damaged or inconsistent when it was archived "
                         "(its findings): no copy is better; watch it, record what you see "
                         "(custody inspect) and keep it as it is"),
    "object-unreadable": N_("restore the object from the second copy and verify again; report it "
                            "to the archivist"),
    "digest-mismatch": N_("the stored bytes changed: restore from the second copy, keep the "
                          "failed version as evidence, report it"),
    "manifest-unreadable": N_("rebuild the item's metadata version from the catalog and a second "
                              "copy; report it"),
    "signature-invalid": N_("the signed description does not verify: check the archive keys "
                            "(custody key list); report it"),
    "manifest-mismatch": N_("the catalog and the signed description differ: the store is "
                            "authoritative; rebuild the catalog entry from it"),
    "lock-missing": N_("apply the required lock again (custody retention check) and report it"),
    "lock-too-short": N_("extend the lock to the required retain-until (custody retention check)"),
    "legal-hold-missing": N_("set the legal hold again; a reason still holds the item"),
    "media-unreadable": N_("the recording no longer parses: restore from the second copy"),
    "duration-changed": N_("the recording's duration changed: restore from the second copy"),
    "search-field-mismatch": N_("the catalog's search index differs from the signed description "
                                "(edited outside custody): the signed description is "
                                "authoritative; report it and rebuild the catalog from the store "
                                "(custody rebuild-catalog)"),
    "version-mismatch": N_("the item's current metadata version is not its latest stored one: "
                           "report it and rebuild the catalog from the store"),
    "index-missing": N_("the item is missing from the search index: rebuild the catalog from the "
                        "store (custody rebuild-catalog)"),
}
INSPECTORS = ("auditor", "archivist")  # who verifies and records inspection findings
# an inspection's type as a reader meets it inside a message (the stored codes are the keys)
INSPECTION_TYPES = {"sampled-verification": N_("sampled verification"),
                    "conduct-check": N_("playback check")}
NOT_REPLICATED = "not-replicated"  # --copy replica: not there yet; not a failure of the item
COPIES = ("primary", "replica")


# each problem's name in the 检查台帐, beside its stable code (the one table: names.py)
PROBLEM_ZH = CHECK_PROBLEM_ZH
# how a plan's method is named in the 检查台帐 (the stored method stays as filed)
METHOD_ZH = {"full sweep (全检)": "全检", "fixed sample size": "固定样本量"}


def _problem(code: str, message: Text) -> dict:
    """``message`` in English (what the signed record and JSON keep), ``text`` in the
    language of the person who ran the check, and what to do."""
    return {"code": code, "message": str(message), "text": localize(message),
            "action": ACTIONS[code]}


def _note(code: str, message: Text) -> dict:
    return {"code": code, "message": str(message), "text": localize(message)}


def _reason(exc: BaseException) -> Text | str:
    return exc.text if isinstance(exc, CustodyError) else str(exc)


def verify_item(archive: Archive, item: Item, media_probe: MediaProbe | None = None,
                throttle: Callable[[int], None] | None = None, copy: str = "primary",
                replica: WormStore | None = None) -> dict:
    """Every problem with one item, each with what to do; ``ok`` when there is none.

    ``copy="replica"`` reads the second copy (``replica``), at the version ids the catalog
    records in ``item.storage["replica"]``; an item not yet (fully) copied there is reported
    as ``not_replicated``, which is not a failure of the item."""
    if copy not in COPIES:
        raise InputError(N_("copy must be one of {choices}"), choices=", ".join(COPIES))
    if copy == "replica":
        if replica is None:
            raise InputError(N_("no [replica] is configured: there is no second copy to "
                                "verify"))
        store = replica
        ref = item.storage.get("replica") or {}
        manifests = {m["key"]: m for m in ref.get("manifests", [])}
        current = item.storage["manifests"][-1]
        if not ref.get("object") or current["key"] not in manifests:
            return {"item": item.id, "sha256": item.sha256, "copy": copy,
                    "key": item.storage["object"]["key"], "version_id": None,
                    "not_replicated": True, "problems": [], "ok": True,
                    "notes": [_note(NOT_REPLICATED, Text("not yet on the replica: run "
                                                         "custody replicate"))]}
        key, vid = ref["object"]["key"], ref["object"]["version_id"]
        manifest_ref = manifests[current["key"]]
    else:
        store = archive.store
        obj = item.storage["object"]
        key, vid = obj["key"], obj["version_id"]
        manifest_ref = item.storage["manifests"][-1]
    problems: list[dict] = []
    result: dict = {"item": item.id, "sha256": item.sha256, "copy": copy, "key": key,
                    "version_id": vid}
    digests = StreamDigests()
    try:
        for chunk in store.read(key, vid):
            digests.update(chunk)
            if throttle:
                throttle(len(chunk))
        got = digests.finish()
        result["read"] = got.to_dict()
        if got != item.current.digests:
            problems.append(_problem("digest-mismatch", Text(
                "read {read}… ({read_size} bytes), signed {signed}… ({signed_size} bytes)",
                read=got.sha256[:16], read_size=got.size, signed=item.sha256[:16],
                signed_size=item.current.digests.size)))
    except _read_errors() as exc:
        digests.finish()
        problems.append(_problem("object-unreadable", Text(
            "the object cannot be read: {reason}", reason=_reason(exc))))
    problems += _check_manifest(archive, item, store, manifest_ref)
    try:
        lock = store.lock(key, vid)
        result["lock"] = lock.to_dict()
        if lock.mode is None or lock.retain_until is None:
            problems.append(_problem("lock-missing", Text("the store shows no retention")))
        elif item.retain_until and lock.retain_until < item.retain_until:
            problems.append(_problem("lock-too-short", Text(
                "locked until {locked}, rules require {required}",
                locked=iso(lock.retain_until), required=iso(item.retain_until))))
        if item.legal_hold and not lock.legal_hold:
            problems.append(_problem("legal-hold-missing", Text(
                "a reason holds the item but the store shows no legal hold")))
    except CustodyError as exc:
        problems.append(_problem("lock-missing", Text("the lock cannot be read: {reason}",
                                                      reason=exc.text)))
    if media_probe and item.description.kind in ("video", "audio") and not any(
            p["code"] == "object-unreadable" for p in problems):
        problems += _check_media(store, key, vid, item, media_probe)
    if copy == "primary":
        problems += _check_index(archive, item)
    # a stored finding's English sentence is shown through the catalog where it is whole
    problems += [_problem("ingest-finding", Text(
        "found at ingest ({check}): {finding}", check=f.get("check"),
        finding=Text(f.get("message") or f.get("code") or "-")))
                 for f in item.checks.get("findings") or []]
    result["problems"] = problems
    result["ok"] = not problems
    return result


def _read_errors() -> tuple[type[BaseException], ...]:
    from archive.copies.replica import read_errors

    return read_errors()


def _check_manifest(archive: Archive, item: Item, store: WormStore, ref: dict) -> list[dict]:
    try:
        doc = json.loads(store.read_bytes(ref["key"], ref["version_id"]))
        stored = MetadataVersion.from_dict(doc)
    except (*_read_errors(), ValueError, KeyError, TypeError) as exc:
        return [_problem("manifest-unreadable", Text("{key}: {reason}", key=ref["key"],
                                                     reason=_reason(exc)))]
    if not archive.archive_keys.verify(doc["manifest"], stored.key_id, stored.signature):
        return [_problem("signature-invalid", Text("{key} does not verify with any archive "
                                                   "key", key=ref["key"]))]
    if stored.manifest() != item.current.manifest():
        return [_problem("manifest-mismatch", Text(
            "{key} (version {stored}) differs from the catalog's version {catalog}",
            key=ref["key"], stored=stored.version, catalog=item.version))]
    return []


def _check_index(archive: Archive, item: Item) -> list[dict]:
    """The fields this item is searched and chosen for lots by, as the catalog's index holds
    them, against its signed description; each difference with the field, the stored and
    the signed value."""
    out = []
    for p in item_index_problems(archive.catalog, item, archive.archive_keys):
        if p["code"] == SIGNATURE_INVALID:  # _check_manifest names what does not verify
            continue
        found = _problem(p["code"], Text(p["message"]))
        found["text"] = p.get("text") or found["text"]  # the index check's own sentence
        out.append(found | {k: p[k] for k in ("field", "stored", "signed") if k in p})
    return out


def _check_media(store, key: str, vid: str, item: Item, probe: MediaProbe) -> list[dict]:
    with store.open_version(key, vid) as f:
        duration = probe(f)
    expected = (item.checks.get("format") or {}).get("duration_s")
    if duration is None:
        return [] if expected is None else [_problem("media-unreadable", Text(
            "MediaInfo cannot parse it any more"))]
    if expected is not None and abs(duration - expected) > 0.5:
        return [_problem("duration-changed", Text(
            "{now} s now, {then} s at ingest", now=f"{duration:.1f}",
            then=f"{expected:.1f}"))]
    return []


def lot_ids(archive: Archive, query: Query) -> list[str]:
    """The items a query selects, less those destroyed by an approved disposal (their bytes
    are gone by design; their tombstones are the record)."""
    return [i.id for i in archive.catalog.iter_items(query) if i.status != "disposed"]


def year_lot(archive: Archive, year: int, zone) -> list[str]:
    """The records of year N: recorded (else ingested) in N, in the unit's zone."""
    start = datetime(year, 1, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone)
    ids: dict[str, None] = {}
    for query in (Query(start=start, end=end), Query(status="pending-metadata")):
        for item in archive.catalog.iter_items(query):
            if (start <= (item.description.recorded_start or item.ingested_at) < end
                    and item.status != "disposed"):
                ids[item.id] = None
    return list(ids)


def plan_for(lot_size: int, level: str = "II", sample: int | None = None,
             everything: bool = False, aql: float | None = None) -> dict:
    """The sampling plan of a lot of ``lot_size``: GB/T 2828.1 code letter, sample size and
    Ac/Re for ``aql`` (without one Ac = 0); a fixed sample size or a full sweep is Ac = 0."""
    if everything:
        return {"method": "full sweep (全检)", "sample_size": lot_size, "ac": 0, "re": 1}
    letter, n = sample_size(lot_size, level)
    if sample is not None:
        return {"method": "fixed sample size", "sample_size": min(sample, lot_size), "ac": 0,
                "re": 1}
    if letter == "-":  # a lot of one: checked in full
        return {"method": "GB/T 2828.1-2012 一般检验水平", "level": level,
                "code_letter": letter, "sample_size": n, "ac": 0, "re": 1}
    table = acceptance(letter, aql)
    plan = {"method": "GB/T 2828.1-2012 一般检验水平", "level": level,
            "code_letter": letter, "sample_size": min(table["sample_size"], lot_size),
            "aql": aql, "ac": table["ac"], "re": table["re"]}
    if table["letter"] != letter:  # the table's arrow led to another plan
        plan["plan_letter"] = table["letter"]
    if table["equivalent_aql"] is not None:
        plan["equivalent_aql"] = table["equivalent_aql"]
    return plan


def inspect_lot(archive: Archive, actor: Actor, lot: list[str], lot_description: dict, *,
                level: str = "II", sample: int | None = None, everything: bool = False,
                seed: int | None = None, rate: float | None = None,
                media_probe: MediaProbe | None = None,
                progress: Callable[[int], None] | None = None, copy: str = "primary",
                replica: WormStore | None = None, aql: float | None = None) -> dict:
    """Draw the sample, verify it, mark failures, judge the lot, and file the signed
    inspection record (:func:`draft_lot`, then :func:`_file`)."""
    return _file(archive, actor, draft_lot(
        archive, actor, lot, lot_description, level=level, sample=sample,
        everything=everything, seed=seed, rate=rate, media_probe=media_probe,
        progress=progress, copy=copy, replica=replica, aql=aql))


def draft_lot(archive: Archive, actor: Actor, lot: list[str], lot_description: dict, *,
              level: str = "II", sample: int | None = None, everything: bool = False,
              seed: int | None = None, rate: float | None = None,
              media_probe: MediaProbe | None = None,
              progress: Callable[[int], None] | None = None, copy: str = "primary",
              replica: WormStore | None = None, aql: float | None = None,
              total: Callable[[int], None] | None = None) -> dict:
    """Draw the sample, verify it, mark failures and judge the lot: the inspection record
    as it will be filed, not yet signed nor filed (the draft). ``total`` hears the sample
    size before the first item is read.

    The lot verdict (批合格/批不合格) is part of the record: the items that failed
    are counted against the plan's acceptance number Ac (GB/T 2828.1 Table 2-A for ``aql``;
    without one Ac = 0, so one damaged record fails the lot; a full sweep or a fixed sample
    size also Ac = 0). Whatever the verdict, each failed item is listed with what restores it;
    a rejected sample offers the full check of the lot."""
    if not lot:
        raise InputError(N_("the lot is empty: nothing to inspect"))
    seed = secrets.randbits(63) if seed is None else seed
    plan = plan_for(len(lot), level, sample, everything, aql)
    chosen = sorted(lot) if everything else draw_sample(lot, plan["sample_size"], seed)
    if total:
        total(len(chosen))
    throttle = Throttle(rate)
    results = []
    for item_id in chosen:
        item = archive.item(item_id)
        res = verify_item(archive, item, media_probe, throttle, copy, replica)
        results.append(res)
        if not res.get("not_replicated"):
            _mark(archive, actor, item, res, copy)
        if progress:
            progress(1)
    failed = [r["item"] for r in results if not r["ok"]]
    missing = [r["item"] for r in results if r.get("not_replicated")]
    record = {"id": uuid7(), "type": "sampled-verification", "by": actor.person_id,
              "at": iso(datetime.now(timezone.utc)), "lot": lot_description | {
                  "size": len(lot)}, "plan": plan, "seed": seed, "rate_mb_s": rate,
              "copy": copy, "items": chosen, "results": results,
              "summary": {"checked": len(results) - len(missing),
                          "passed": len(results) - len(failed) - len(missing),
                          "failed": failed, "not_replicated": missing}}
    record["verdict"] = _verdict(plan, results, lot_description, everything, copy)
    return record


def _verdict(plan: dict, results: list[dict], lot: dict, everything: bool,
             copy: str) -> dict:
    """The lot's verdict from the items that failed (an item not yet on the replica was not
    checked, and is no defect), with each failed item's problems; a rejected sample names
    the full check of the lot that follows it."""
    failed = [{"item": r["item"], "problems": [p["code"] for p in r["problems"]]}
              for r in results if not r["ok"]]
    verdict = lot_verdict(len(failed), plan["ac"], plan["re"])
    out = {"result": verdict, "zh": {"accept": "批合格", "reject": "批不合格"}[verdict],
           "defects": len(failed), "ac": plan["ac"], "re": plan["re"], "failed": failed}
    if verdict == "reject" and not everything:
        where = (f"--year {lot['year']}" if "year" in lot
                 else f"--query {json.dumps(lot.get('query', ''), ensure_ascii=False)}")
        out["full_check"] = f"custody verify {where} --all" + (
            " --copy replica" if copy == "replica" else "")
    return out


def _mark(archive: Archive, actor: Actor, item: Item, res: dict,
          copy: str = "primary") -> None:
    item.checks["verification" if copy == "primary" else "verification_replica"] = {
        "at": iso(datetime.now(timezone.utc)), "ok": res["ok"],
        "problems": [p["code"] for p in res["problems"]]}
    item.events.append(event("fixity check", actor.person_id,
                             "success" if res["ok"] else "failure",
                             problems=[p["code"] for p in res["problems"]],
                             **({"copy": copy} if copy != "primary" else {})))
    if not res["ok"]:
        item.status = "attention"
    archive.catalog.save_state(item)


def spot_check(archive: Archive, actor: Actor, item_id: str, finding: str,
               note: str, record_id: str | None = None) -> dict:
    """A conduct finding from watching a recording (回放检查), into the same ledger.
    ``record_id``: the id a passkey decision signed as its subject before the record exists
    (the console); else a new one."""
    if finding not in FINDINGS:
        raise InputError(N_("finding {finding!r} is not one of {choices}"), finding=finding,
                         choices=", ".join(FINDINGS))
    item = archive.item(item_id)
    record = {"id": record_id or uuid7(), "type": "conduct-check", "by": actor.person_id,
              "at": iso(datetime.now(timezone.utc)), "items": [item.id],
              "finding": finding, "finding_zh": FINDINGS[finding], "note": note,
              "officers": item.description.officers, "unit": item.description.unit}
    return _file(archive, actor, record)


def _file(archive: Archive, actor: Actor, record: dict) -> dict:
    record["signer_key_id"] = actor.key.key_id
    record["signature"] = actor.key.sign({k: v for k, v in record.items()
                                          if k != "signature"})
    archive.catalog.put_record("inspections", record["id"], record)
    until = datetime.now(timezone.utc) + timedelta(days=366 * archive.ledger.checkpoint_years)
    archive.store.put_blob(f"inspections/{record['id']}.json", canonical(record), until)
    archive.ledger.append(actor, "inspection", record["id"],
                          {"type": record["type"], "items": len(record["items"]),
                           "failed": len(record.get("summary", {}).get("failed", []))})
    return record


def render_zh(record: dict) -> str:
    """One inspection as the 检查台帐 entry people file."""
    lines = [f"检查台帐  编号 {record['id']}",
             f"检查人 {record['by']}  时间 {record['at']}"]
    if record["type"] == "conduct-check":
        lines += ["类型 回放检查", f"条目 {record['items'][0]}  执法人员 "
                  f"{', '.join(record['officers'])}  单位 {record['unit']}",
                  f"发现 {record['finding_zh']}  说明 {record['note'] or '-'}"]
        res = record.get("resolution")
        lines.append(f"处理 {res['by']} {res['at']}：{res['note']}" if res else "处理 未处理")
        return "\n".join(lines)
    plan = record["plan"]
    lines += ["类型 抽样机读检验",
              f"批 {json.dumps(record['lot'], ensure_ascii=False)}",
              f"抽样方案 {METHOD_ZH.get(plan['method'], plan['method'])}"
              + (f" 检验水平 {plan['level']} 样本量字码 {plan['code_letter']}"
                 if "level" in plan else "") + f" 样本量 {plan['sample_size']}",
              f"随机种子 {record['seed']}",
              f"结果 检查 {record['summary']['checked']} 合格 {record['summary']['passed']}"
              f" 不合格 {len(record['summary']['failed'])}"]
    verdict = record.get("verdict")
    if verdict:  # records filed before verdicts were given have none
        lines.append(f"判定 接收数 Ac={verdict['ac']} 拒收数 Re={verdict['re']} 不合格品数 "
                     f"{verdict['defects']}：{verdict['zh']}")
        if verdict.get("full_check"):
            lines.append(f"批不合格：请对全批进行全检（{verdict['full_check']}）")
    if record.get("copy") == "replica":
        lines.insert(3, "检验对象 第二副本 (replica)")
        if record["summary"].get("not_replicated"):
            lines.append(f"尚未复制到第二副本 {len(record['summary']['not_replicated'])} 条 "
                         "(not-replicated; 运行 custody replicate)")
    for r in record["results"]:
        if r.get("not_replicated"):
            lines.append(f"  {r['item']}  尚未复制 (not-replicated)")
            continue
        lines.append(f"  {r['item']}  {'合格' if r['ok'] else '不合格'}")
        for p in r["problems"]:
            # filed before texts were kept: the English message through the catalog
            shown = p.get("text") or localize(p["message"])
            name = PROBLEM_ZH.get(p["code"], p["code"])
            lines.append(f"    {name}（{p['code']}）：{shown}；处理：{localize(p['action'])}")
    return "\n".join(lines)


# --- services: what every face calls -----------------------------------------------------------
def run_verification(archive: Archive, actor: Actor, settings: Settings, *,
                     year: int | None = None, query: str | None = None, level: str = "II",
                     sample: int | None = None, everything: bool = False,
                     seed: int | None = None, rate: float | None = None,
                     copy: str = "primary",
                     open_replica: Callable[[], WormStore | None] | None = None,
                     media_probe: MediaProbe | None = None,
                     progress: Callable[[int], None] | None = None,
                     aql: float | None = None) -> dict:
    """custody verify (auditors, archivists): the lot (the records of ``year`` in the
    archive's zone, or the items ``query`` "KEY=VALUE ..." selects, its times in the unit's
    zone), sampled, verified, judged (批合格/批不合格 against the plan's Ac/Re for ``aql``,
    else the settings' ``[verification] aql`` when configured, else Ac = 0) and filed as a
    signed inspection record. ``open_replica`` (``bootstrap.open_replica``) gives the second
    copy for ``copy="replica"``. The two steps the console takes apart (the checks in a
    background job, the filing signed by the inspector's passkey afterwards), in one."""
    draft = draft_verification(archive, actor, settings, year=year, query=query, level=level,
                               sample=sample, everything=everything, seed=seed, rate=rate,
                               copy=copy, open_replica=open_replica,
                               media_probe=media_probe, progress=progress, aql=aql)
    return file_verification(archive, actor, draft)


def _lot(archive: Archive, settings: Settings, year: int | None,
         query: str | None) -> tuple[list[str], dict]:
    if year is not None:
        return year_lot(archive, year, settings.unit_zone(None)), {"year": year}
    return lot_ids(archive, parse_query_text(query or "", settings.unit_zone)), {"query": query}


def _lot_arguments(year: int | None, query: str | None, sample: int | None,
                   everything: bool) -> None:
    if (year is None) == (query is None):
        raise InputError(N_("give the lot as --year N or as --query FILTERS (one of them)"))
    if sample is not None and everything:
        raise InputError(N_("--sample and --all exclude each other"))


def _aql(settings: Settings, aql: float | None) -> float | None:
    return aql if aql is not None else (settings.section("verification").get("aql") or None)


@people.records_refusals("verify")
def preview_plan(archive: Archive, actor: Actor, settings: Settings, *,
                 year: int | None = None, query: str | None = None, level: str = "II",
                 aql: float | None = None) -> dict:
    """The plan a run over this lot would follow, before it starts (the console shows it):
    ``{"lot": description, "lot_size", "plan"}``; refused as :func:`draft_verification`
    refuses (the role, an empty lot, a level or AQL the standard does not have)."""
    _lot_arguments(year, query, None, False)
    people.require_role(archive.catalog, actor, INSPECTORS, N_("run a sampled verification"))
    lot, described = _lot(archive, settings, year, query)
    if not lot:
        raise InputError(N_("the lot is empty: nothing to inspect"))
    return {"lot": described, "lot_size": len(lot),
            "plan": plan_for(len(lot), level, aql=_aql(settings, aql))}


@people.records_refusals("verify")
def draft_verification(archive: Archive, actor: Actor, settings: Settings, *,
                       year: int | None = None, query: str | None = None,
                       level: str = "II", sample: int | None = None,
                       everything: bool = False, seed: int | None = None,
                       rate: float | None = None, copy: str = "primary",
                       open_replica: Callable[[], WormStore | None] | None = None,
                       media_probe: MediaProbe | None = None,
                       progress: Callable[[int], None] | None = None,
                       aql: float | None = None,
                       total: Callable[[int], None] | None = None) -> dict:
    """The checks of :func:`run_verification` without the filing: the inspection record
    as it will be filed (unsigned), for :func:`file_verification`. Each item read is marked
    in the catalog as it is checked (its fixity event), as in a run."""
    _lot_arguments(year, query, sample, everything)
    people.require_role(archive.catalog, actor, INSPECTORS, N_("run a sampled verification"))
    lot, described = _lot(archive, settings, year, query)
    replica = open_replica() if copy == "replica" and open_replica is not None else None
    return draft_lot(archive, actor, lot, described, level=level, sample=sample,
                     everything=everything, seed=seed, rate=rate, media_probe=media_probe,
                     progress=progress, copy=copy, replica=replica,
                     aql=_aql(settings, aql), total=total)


@people.records_refusals("verify")
def check_filing(archive: Archive, actor: Actor, draft: dict) -> None:
    """Whether ``actor`` may file ``draft`` now (the console asks before the passkey)."""
    _check_filing(archive.catalog, actor, draft)


def _check_filing(catalog: Catalog, actor: Actor, draft: dict) -> None:
    """Refused unless ``actor`` may file ``draft`` now: only the inspector who ran the
    checks signs them (IdentityError, recorded), and a draft is filed once."""
    people.require_role(catalog, actor, INSPECTORS, N_("run a sampled verification"))
    subject = str(draft.get("id", "-"))
    if draft.get("type") != "sampled-verification" or "signature" in draft:
        raise InputError(N_("{inspection} is not a draft of a sampled verification"),
                         subject=subject, inspection=subject)
    if draft.get("by") != actor.person_id:
        raise IdentityError(N_("the checks of {inspection} were run by {owner}; only they "
                               "sign its report, not {person}"), subject=subject,
                            inspection=subject, owner=draft.get("by"),
                            person=actor.person_id)
    if catalog.get_record("inspections", subject) is not None:
        raise InputError(N_("inspection {inspection} is in the 检查台帐 already"),
                         subject=subject, inspection=subject)


@people.records_refusals("verify")
def file_verification(archive: Archive, actor: Actor, draft: dict) -> dict:
    """File a drafted sampled verification: signed by ``actor`` (the inspector who ran
    it), kept in the catalog and the WORM store, entered in the 检查台帐 (ledger action
    ``inspection``). Refused for another person's draft and for one filed already."""
    _check_filing(archive.catalog, actor, draft)
    return _file(archive, actor, dict(draft))


@people.records_refusals("inspect")
def record_finding(archive: Archive, actor: Actor, item_id: str, finding: str,
                   note: str = "", record_id: str | None = None) -> dict:
    """custody inspect (auditors, archivists): a conduct finding from watching a recording,
    filed in the inspection ledger. Only on a recording the inspector could watch (an
    approved request, or an auditor's own sampled inspection that drew it: the rules of
    ``custody view``); otherwise refused, and the refusal recorded."""
    _may_record_finding(archive, actor, item_id, finding)
    return spot_check(archive, actor, item_id, finding, note, record_id)


@people.records_refusals("inspect")
def check_finding(archive: Archive, actor: Actor, item_id: str, finding: str) -> None:
    """What ``record_finding`` refuses (and records), asked before anything is signed: the
    console asks it before the passkey is touched."""
    _may_record_finding(archive, actor, item_id, finding)


def _may_record_finding(archive: Archive, actor: Actor, item_id: str, finding: str) -> None:
    # imported here: the access rules are this one service's concern in this module
    from archive.access.requests import _record_refusal
    from archive.access.viewing import watch_problem

    people.require_role(archive.catalog, actor, INSPECTORS, N_("record inspection findings"))
    if finding not in FINDINGS:  # bad input before any refusal is recorded
        raise InputError(N_("finding {finding!r} is not one of {choices}"), finding=finding,
                         choices=", ".join(FINDINGS))
    why = watch_problem(archive, actor, archive.item(item_id))
    if why is not None:
        raise _record_refusal(archive, actor, "inspect", item_id, Text(
            "{person} could not watch item {item}, so cannot record what it shows: {reason}",
            person=actor.person_id, item=item_id, reason=why))


def list_inspections(catalog: Catalog) -> list[dict]:
    """The inspection ledger (检查台帐), one row per inspection."""
    return [{"id": d["id"], "type": d["type"], "by": d["by"], "at": d["at"],
             "items": len(d["items"]),
             "failed": len(d.get("summary", {}).get("failed", []))}
            for d in catalog.list_records("inspections")]


def inspection_records(catalog: Catalog, *, start: datetime | None = None,
                       end: datetime | None = None, unit: str | None = None,
                       officer: str | None = None, finding: str | None = None,
                       state: str | None = None) -> list[dict]:
    """The inspection ledger's records in [start, end), newest first (the console's 检查台帐
    page). ``unit``, ``officer``, ``finding`` (a code) and ``state`` ("open", "resolved")
    keep only playback findings: a sampled run's lot belongs to no one unit or officer."""
    if finding and finding not in FINDINGS:
        raise InputError(N_("finding {finding!r} is not one of {choices}"), finding=finding,
                         choices=", ".join(FINDINGS))
    if state not in (None, "", "open", "resolved"):
        raise InputError(N_("the state of a finding is open or resolved, not {state!r}"),
                         state=state)
    out = []
    for d in catalog.list_records("inspections"):
        at = parse_iso(d["at"])
        if (start and at < start) or (end and at >= end):
            continue
        if (unit or officer or finding or state) and d["type"] != "conduct-check":
            continue
        if ((unit and d.get("unit") != unit)
                or (officer and officer not in (d.get("officers") or []))
                or (finding and d.get("finding") != finding)
                or (state == "open" and d.get("resolution"))
                or (state == "resolved" and not d.get("resolution"))):
            continue
        out.append(d)
    return sorted(out, key=lambda d: d["at"], reverse=True)


def findings_by_item(catalog: Catalog) -> dict[str, list[dict]]:
    """item id -> the playback findings on it, oldest first, open or resolved."""
    out: dict[str, list[dict]] = {}
    for d in sorted(catalog.list_records("inspections", type="conduct-check"),
                    key=lambda d: d["at"]):
        out.setdefault(d["items"][0], []).append(d)
    return out


def playable_samples(catalog: Catalog, person_id: str,
                     now: datetime | None = None) -> list[dict]:
    """The person's sampled verifications whose drawn items they may still play without a
    request (``archive.access.viewing.PLAYBACK_DAYS``), newest first."""
    from archive.access.viewing import PLAYBACK_DAYS

    since = (now or datetime.now(timezone.utc)) - timedelta(days=PLAYBACK_DAYS)
    return sorted((d for d in catalog.list_records("inspections", by=person_id,
                                                   type="sampled-verification")
                   if parse_iso(d["at"]) > since), key=lambda d: d["at"], reverse=True)


def filed_inspection(catalog: Catalog, inspection_id: str) -> dict | None:
    """The filed inspection record, None while it is not (a draft not yet signed)."""
    return catalog.get_record("inspections", inspection_id)


def get_inspection(catalog: Catalog, inspection_id: str) -> dict:
    doc = catalog.get_record("inspections", inspection_id)
    if doc is None:
        raise InputError(N_("no inspection {inspection!r}"), subject=inspection_id,
                         inspection=inspection_id)
    return doc


def checkpoint_ledger(archive: Archive) -> dict:
    """A signed checkpoint of the ledger head in the WORM store now (custody audit
    checkpoint); refused while the ledger is empty."""
    signed = archive.ledger.checkpoint()
    if signed is None:
        raise InputError(N_("the ledger is empty; nothing to checkpoint"))
    return signed


@people.records_refusals("inspections resolve")
def resolve_finding(archive: Archive, actor: Actor, inspection_id: str, note: str) -> dict:
    """custody inspections resolve (auditors, archivists): a conduct finding is settled (the
    officer was spoken to, the recording explained). The finding itself is signed and in the
    WORM store, so it is never edited: the resolution is a record of its own, signed by the
    person who settles it, stored beside it; only then does the finding stop holding its item
    from disposal."""
    doc = _may_resolve(archive, actor, inspection_id, note)
    resolution = {"inspection": inspection_id, "by": actor.person_id,
                  "at": iso(datetime.now(timezone.utc)), "note": note,
                  "signer_key_id": actor.key.key_id}
    resolution["signature"] = actor.key.sign(resolution)
    until = datetime.now(timezone.utc) + timedelta(days=366 * archive.ledger.checkpoint_years)
    archive.store.put_blob(f"inspections/{inspection_id}.resolution.json",
                           canonical(resolution), until)
    archive.catalog.put_record("inspections", inspection_id, doc | {"resolution": resolution})
    archive.ledger.append(actor, "inspection-resolved", inspection_id,
                          {"items": doc["items"], "note": note})
    return doc | {"resolution": resolution}


@people.records_refusals("inspections resolve")
def check_resolution(archive: Archive, actor: Actor, inspection_id: str, note: str) -> dict:
    """What ``resolve_finding`` refuses (and records), asked before anything is signed (the
    console, before the passkey): the finding to resolve."""
    return _may_resolve(archive, actor, inspection_id, note)


def _may_resolve(archive: Archive, actor: Actor, inspection_id: str, note: str) -> dict:
    people.require_role(archive.catalog, actor, INSPECTORS, N_("resolve inspection findings"))
    doc = get_inspection(archive.catalog, inspection_id)
    if doc["type"] != "conduct-check":
        raise InputError(N_("inspection {inspection} is a {kind}, not a finding from a "
                            "playback check; nothing to resolve"), subject=inspection_id,
                         inspection=inspection_id,
                         kind=Text(INSPECTION_TYPES.get(doc["type"], doc["type"])))
    if doc.get("resolution"):
        raise InputError(N_("the finding {inspection} was resolved already by {person} at "
                            "{at}"), subject=inspection_id, inspection=inspection_id,
                         person=doc["resolution"]["by"], at=doc["resolution"]["at"])
    if not note.strip():
        raise InputError(N_("say how the finding was resolved (--note)"), subject=inspection_id)
    return doc
