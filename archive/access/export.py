"""Copy-only exports (利用时只能使用拷贝件) and their offline verification.

An export is a BagIt bag of copies read from the WORM store and verified against their digests
while they stream (originals never leave the store), each with the signed metadata version read
from the store (archive signature verified), and an extraction record (提取说明) signed by the
archive key and by the exporting person. ``verify_export`` checks a bag or its ISO image
against an archive key the verifier already trusts, never only against the key inside it.

Layout::

    data/<item id>/<original file name>          the copy
    data/<item id>/metadata-v0003.json           the signed metadata version, as stored
    custody/extraction-record.json               提取说明 (canonical JSON)
    custody/extraction-record.signatures.json    archive and exporter signatures over it
    custody/提取说明.txt                          the record as text for the case file
    custody/keys/archive.pem, exporter.pem       convenience copies; never trusted alone
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from archive import people
from archive.access.requests import _record_refusal, allowed_exports, usable_problem
from archive.catalog.base import Catalog
from archive.domain.canonical import canonical
from archive.domain.errors import InputError, ProblemFound
from archive.domain.ids import uuid7
from archive.domain.model import Digests, MetadataVersion, iso, parse_iso
from archive.inputs import read_text_input
from archive.integrity.signing import Keyring, fingerprint, key_id_of, load_public_pem, public_pem
from archive.ledger.chain import Actor
from archive.packaging.bags import BagReport, BagWriter, check_relpath, check_source, open_bag
from archive.people import person_of
from archive.service import Archive
from i18n import N_, Text, localize

RECORD = "custody/extraction-record.json"
SIGNATURES = "custody/extraction-record.signatures.json"
TEXT = "custody/提取说明.txt"
ARCHIVE_PEM = "custody/keys/archive.pem"
EXPORTER_PEM = "custody/keys/exporter.pem"
# A package may be fetched again, by the person it was made for, this many hours after it was
# made without counting as another export (a burn that failed, a lost stick); a constant, not
# configuration, so that the command line and the web console cannot differ.
REDELIVER_HOURS = 24


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _file_name(item_id: str, source: dict, kind: str) -> str:
    """The copy's name: the original file name where it is a safe one, else the item id."""
    name = PurePosixPath(str(source.get("original_name") or "")).name
    name = name.replace("%", "％")
    try:
        check_relpath(name)
        if name.startswith("metadata-v"):
            raise InputError("clashes with the metadata file")  # caught below: never shown
        return name
    except InputError:
        return f"{item_id}.{kind}"


def render_zh(record: dict) -> str:
    """提取说明 as plain text for the case file."""
    lines = ["提取说明", "",
             f"提取编号：{record['export_id']}",
             f"提取时间：{record['extracted_at']}",
             f"提取人：{record['extractor']['name']}（{record['extractor']['id']}）",
             f"调阅申请：{record['request']['id']}（事由：{record['request']['reason']}；"
             f"申请人：{record['request']['requester']}）",
             f"审批人：{record['request']['approved_by']}，审批时间："
             f"{record['request']['approved_at']}",
             f"档案签名密钥指纹：{record['archive_key']['fingerprint']}",
             "说明：以下文件均为从一次写入存储中读取并经 SHA-256 与 SM3 校验的拷贝件，原件仍保存于"
             "档案系统中。", ""]
    for n, it in enumerate(record["items"], 1):
        lines += [f"{n}. 文件：{it['path']}",
                  f"   制作人：{'、'.join(it['makers']) or '-'}；设备：{it['device_id'] or '-'}；"
                  f"录制时间：{it['recorded_start'] or '-'} 至 {it['recorded_end'] or '-'}",
                  f"   当事人：{it['party'] or '-'}；案由：{it['cause'] or '-'}；"
                  f"案件编号：{it['case_id'] or '-'}",
                  f"   大小：{it['size']} 字节",
                  f"   SHA-256：{it['sha256']}",
                  f"   SM3：{it['sm3']}",
                  f"   元数据：{it['metadata_path']}（第 {it['metadata_version']} 版）"]
    lines += ["", "提取人签名：见 custody/extraction-record.signatures.json（Ed25519）", ""]
    return "\n".join(lines)


def _bag_info(fonds: str, export_id: str, request_id: str) -> dict[str, str]:
    return {"Source-Organization": fonds or "custody",
            "External-Identifier": export_id,
            "Internal-Sender-Identifier": request_id,
            "External-Description": "执法全过程记录拷贝件（提取说明见 custody/提取说明.txt）",
            "Bag-Group-Identifier": f"request {request_id}"}


def _is_use(doc: dict) -> bool:
    """An export record that counts as a use of its approval: made, or claimed by an export
    still writing (or killed while writing: counted, as the copies may be out). Records made
    before uses were counted carry no status and were made."""
    return doc.get("status", "exported") in ("claimed", "exported")


def export_uses(catalog: Catalog, req: dict, now: datetime | None = None) -> dict:
    """What an extract approval allows and what was used of it: ``allowed`` exports,
    ``used`` (the export ids, in order), ``left``, and the packages that may still be fetched
    again without counting (``redeliverable``: export id, by whom, until when). The web console
    shows and applies exactly this."""
    now = now or _now()
    docs = sorted(catalog.list_records("exports", request=req["id"]), key=lambda d: d["id"])
    used = [d["id"] for d in docs if _is_use(d)]
    allowed = allowed_exports(req)
    again = [{"export": d["id"], "by": d["by"], "until": iso(_redeliver_until(d))}
             for d in docs if _redeliverable(d, now)]
    return {"allowed": allowed, "used": used, "left": max(0, allowed - len(used)),
            "redeliverable": again, "redeliver_hours": REDELIVER_HOURS}


def _redeliver_until(doc: dict) -> datetime:
    return parse_iso(doc["at"]) + timedelta(hours=REDELIVER_HOURS)


def _redeliverable(doc: dict, now: datetime) -> bool:
    return (doc.get("status") == "exported" and bool(doc.get("record"))
            and now < _redeliver_until(doc))


@people.records_refusals("export")
def export(archive: Archive, actor: Actor, request_id: str, dest: Path, *, fonds: str = "",
           iso_image: bool = False, new: bool = False,
           progress: Callable[[int], None] | None = None,
           total: Callable[[int], None] | None = None) -> dict:
    """Write the approved items of an extract request as a bag at ``dest`` (and ``dest``.iso).

    An approval allows the number of exports its signed decision names; each is one signed
    package (one export id), in the access register and the ledger. The same person asking
    again within ``REDELIVER_HOURS`` of their package gets that very package again (same
    export id, same signed extraction record, the copies read from the store again and
    checked against it), registered as a re-delivery and not counted; ``new`` asks for a
    further package instead. An export beyond the number is refused and recorded.

    ``total`` is told the byte count first; ``progress`` then the bytes copied as they go.
    """
    catalog = archive.catalog
    req = catalog.get_record("requests", request_id)
    if req is None:
        raise InputError(N_("no access request {request!r}"), subject=request_id,
                         request=request_id)
    person = person_of(catalog, actor.person_id)
    problem = usable_problem(catalog, req, None, "extract")
    if problem is None and actor.person_id != req["requester"] and (
            person is None or "archivist" not in person.roles):
        problem = Text("{person} is neither the requester ({requester}) nor an archivist",
                       person=actor.person_id, requester=req["requester"])
    if problem is not None:
        raise _record_refusal(archive, actor, "export", request_id, problem,
                              {"request": request_id})
    dest = Path(dest)
    iso_path = dest.with_name(dest.name + ".iso")
    if iso_image and iso_path.exists():
        raise InputError(N_("{path} exists; refusing to replace it"), subject=str(iso_path),
                         path=str(iso_path))
    if not new:
        mine = [d for d in catalog.list_records("exports", request=request_id)
                if d["by"] == actor.person_id and _redeliverable(d, _now())]
        if mine:
            last = max(mine, key=lambda d: d["id"])
            return _redeliver(archive, actor, req, last, dest, iso_image, fonds, progress,
                              total)
    export_id = _claim(archive, actor, req)
    try:
        doc = _make(archive, actor, req, export_id, dest, fonds, progress, total)
    except BaseException as exc:
        claim = catalog.get_record("exports", export_id) or {}
        catalog.put_record("exports", export_id, claim | {"status": "failed",
                                                          "failed_at": iso(_now())})
        if isinstance(exc, ProblemFound):
            archive.ledger.append(actor, "export-failed", request_id,
                                  {"reason": exc.message, "export": export_id})
        raise
    # recorded before the image is made: the bag is out, whatever becomes of the image
    entry = archive.ledger.append(actor, "export", request_id, {
        "export": export_id, "items": len(doc["items"]),
        "bytes": sum(e["size"] for e in doc["items"]), "record_sha256": doc["record_sha256"],
        "iso": bool(iso_image), "use": doc["use"], "allowed": allowed_exports(req)})
    doc["ledger_seq"] = entry.seq
    doc["iso"] = None
    catalog.put_record("exports", export_id, doc)
    _register(archive, actor, req, doc, "exported", entry.seq, doc["at"])
    if iso_image:
        from archive.packaging.iso import write_iso

        write_iso(dest, iso_path, f"CUSTODY_{export_id[:8]}")
        doc["iso"] = str(iso_path)
        catalog.put_record("exports", export_id, doc)
    return _answer(doc, export_uses(catalog, req), redelivered=False)


def _claim(archive: Archive, actor: Actor, req: dict) -> str:
    """Take the next use of the approval, or refuse (recorded) when none is left.

    Two exports at once (two people, a double click on the web console) must not both take
    the last use: each first writes its claim, then counts the claims in id order (ids grow
    with time); a claim beyond the number allowed withdraws itself. Whatever the order of the
    two writes and the two reads, at most the allowed number of claims stand."""
    catalog = archive.catalog
    allowed = allowed_exports(req)
    export_id = uuid7()
    before = [d["id"] for d in sorted(catalog.list_records("exports", request=req["id"]),
                                      key=lambda d: d["id"]) if _is_use(d)]
    if len(before) < allowed:
        catalog.put_record("exports", export_id, {
            "id": export_id, "request": req["id"], "by": actor.person_id,
            "at": iso(_now()), "status": "claimed"})
        uses = [d["id"] for d in sorted(catalog.list_records("exports", request=req["id"]),
                                        key=lambda d: d["id"]) if _is_use(d)]
        if export_id in uses[:allowed]:
            return export_id
        catalog.put_record("exports", export_id, catalog.get_record("exports", export_id)
                           | {"status": "withdrawn"})
        before = [u for u in uses if u != export_id]
    why = Text(N_("request {request} allows {allowed} export, all used ({used}); a further "
                  "copy needs a new approval") if allowed == 1 else
               N_("request {request} allows {allowed} exports, all used ({used}); a further "
                  "copy needs a new approval"),
               request=req["id"], allowed=allowed, used=", ".join(before))
    raise _record_refusal(archive, actor, "export", req["id"], why,
                          {"request": req["id"], "allowed": allowed, "used": before})


def _make(archive: Archive, actor: Actor, req: dict, export_id: str, dest: Path, fonds: str,
          progress: Callable[[int], None] | None, total: Callable[[int], None] | None
          ) -> dict:
    """A new signed package: the copies, the extraction record signed by the archive and the
    exporting person."""
    catalog = archive.catalog
    request_id = req["id"]
    items = [archive.item(i) for i in req["items"]]
    if total is not None:
        total(sum(i.current.digests.size for i in items))
    decision = req["decision"]["decision"]
    writer = BagWriter(dest, _bag_info(fonds, export_id, request_id))
    entries = []
    try:
        for item in items:
            entries.append(_copy_item(archive, writer, item, progress))
        names = {d["id"]: d["name"] for d in catalog.list_records("people")}
        record = {
            "type": "custody.extraction-record", "title": "提取说明", "export_id": export_id,
            "extracted_at": iso(_now()),
            "extractor": {"id": actor.person_id, "name": names.get(actor.person_id, ""),
                          "key_id": actor.key.key_id,
                          "public_key": public_pem(actor.key.public)},
            "request": {"id": request_id, "requester": req["requester"],
                        "reason": req["reason"], "purpose": req["purpose"],
                        "approved_by": decision["by"], "approved_at": decision["at"],
                        "approval": req["decision"]},
            "archive_key": {"key_id": archive.key.key_id,
                            "fingerprint": fingerprint(archive.key.key_id),
                            "public_key": public_pem(archive.key.public)},
            "items": [e | {"makers": [names.get(o, o) for o in e["officers"]]}
                      for e in entries],
        }
        signatures = {"archive": {"key_id": archive.key.key_id,
                                  "signature": archive.key.sign(record)},
                      "extractor": {"person": actor.person_id, "key_id": actor.key.key_id,
                                    "signature": actor.key.sign(record)}}
        _finish(writer, record, signatures)
    except BaseException:
        if dest.exists() and not writer.finished:
            shutil.rmtree(dest)  # our own half-written bag: nothing of it may be handed out
        raise
    claim = catalog.get_record("exports", export_id) or {}
    uses = [d["id"] for d in sorted(catalog.list_records("exports", request=request_id),
                                    key=lambda d: d["id"]) if _is_use(d)]
    return {"id": export_id, "request": request_id, "by": actor.person_id,
            "at": record["extracted_at"], "claimed_at": claim.get("at"), "to": str(dest),
            "status": "exported", "use": uses.index(export_id) + 1,
            "items": [{"item": e["item_id"], "sha256": e["sha256"], "size": e["size"]}
                      for e in entries],
            "record_sha256": _sha256(canonical(record)), "record": record,
            "signatures": signatures, "redeliveries": []}


def _finish(writer: BagWriter, record: dict, signatures: dict) -> None:
    writer.add_tag_file(RECORD, canonical(record))
    writer.add_tag_file(SIGNATURES, canonical(signatures))
    writer.add_tag_file(TEXT, render_zh(record).encode("utf-8"))
    writer.add_tag_file(ARCHIVE_PEM, record["archive_key"]["public_key"].encode())
    writer.add_tag_file(EXPORTER_PEM, record["extractor"]["public_key"].encode())
    writer.finish()


def _redeliver(archive: Archive, actor: Actor, req: dict, doc: dict, dest: Path,
               iso_image: bool, fonds: str, progress: Callable[[int], None] | None,
               total: Callable[[int], None] | None) -> dict:
    """The package ``doc`` made, written again at ``dest``: its signed extraction record as
    it was (both signatures checked first: a record altered in the catalog is not handed
    out), the copies read from the store again and each checked against the record."""
    catalog = archive.catalog
    record, signatures = doc["record"], doc["signatures"]
    if _sha256(canonical(record)) != doc["record_sha256"] or not _record_verifies(
            archive, record, signatures):
        raise _record_refusal(archive, actor, "export", req["id"], Text(
            "export {export}: its stored extraction record does not verify (altered in the "
            "catalog?); it is not handed out again", export=doc["id"]),
            {"request": req["id"], "export": doc["id"]})
    if total is not None:
        total(sum(int(it["size"]) for it in record["items"]))
    writer = BagWriter(dest, _bag_info(fonds, doc["id"], req["id"]))
    try:
        for it in record["items"]:
            _recopy_item(archive, writer, it, progress)
        _finish(writer, record, signatures)
    except BaseException as exc:
        if dest.exists() and not writer.finished:
            shutil.rmtree(dest)
        if isinstance(exc, ProblemFound):
            archive.ledger.append(actor, "export-failed", req["id"],
                                  {"reason": exc.message, "export": doc["id"],
                                   "redelivery": True})
        raise
    iso_path = dest.with_name(dest.name + ".iso")
    if iso_image:
        from archive.packaging.iso import write_iso

        write_iso(dest, iso_path, f"CUSTODY_{doc['id'][:8]}")
    at = iso(_now())
    entry = archive.ledger.append(actor, "export-redelivered", req["id"], {
        "export": doc["id"], "record_sha256": doc["record_sha256"], "iso": bool(iso_image)})
    again = {"at": at, "by": actor.person_id, "to": str(dest),
             "iso": str(iso_path) if iso_image else None, "ledger_seq": entry.seq}
    doc["redeliveries"] = [*doc.get("redeliveries", []), again]
    catalog.put_record("exports", doc["id"], doc)
    _register(archive, actor, req, doc, "redelivered", entry.seq, at)
    return _answer(doc | {"to": again["to"], "iso": again["iso"]}, export_uses(catalog, req),
                   redelivered=True)


def _record_verifies(archive: Archive, record: dict, signatures: dict) -> bool:
    arch = signatures.get("archive") or {}
    ext = signatures.get("extractor") or {}
    # a package made at the web console carries the console's signature for the person (no
    # personal key is on the server): signing_ring holds the console keys for passkey people
    ring = people.signing_ring(archive.catalog, record["extractor"]["id"])
    return (archive.archive_keys.verify(record, arch.get("key_id", ""),
                                        arch.get("signature", ""))
            and ext.get("key_id") == record["extractor"]["key_id"]
            and ring.verify(record, ext.get("key_id", ""), ext.get("signature", "")))


def _recopy_item(archive: Archive, writer: BagWriter, it: dict,
                 progress: Callable[[int], None] | None) -> None:
    """One item of a package again, exactly as the signed record lists it."""
    item = archive.item(it["item_id"])
    ref = next((m for m in item.storage.get("manifests") or []
                if m["version"] == it["metadata_version"]), None)
    raw = archive.store.read_bytes(ref["key"], ref["version_id"]) if ref else b""
    if _sha256(raw) != it["metadata_sha256"]:
        raise ProblemFound(N_("item {item}: its metadata version {version} in the store is "
                              "not the one the package names; not re-delivered"),
                           subject=item.id, item=item.id, version=it["metadata_version"])
    obj = item.storage["object"]

    def chunks():
        for chunk in archive.store.read(obj["key"], obj["version_id"]):
            if progress is not None:
                progress(len(chunk))
            yield chunk

    got = writer.add_stream(it["path"].removeprefix("data/"), chunks())
    if got != Digests(int(it["size"]), it["sha256"], it["sm3"]):
        raise ProblemFound(N_("item {item}: the copy read from the store does not match the "
                              "package's signed digests; not re-delivered"), subject=item.id,
                           item=item.id)
    writer.add_bytes(it["metadata_path"].removeprefix("data/"), raw)


def _register(archive: Archive, actor: Actor, req: dict, doc: dict, outcome: str,
              seq: int, at: str) -> None:
    decision = req["decision"]["decision"]
    reg = {"id": uuid7(), "kind": "export", "at": at, "person": actor.person_id,
           "item": ", ".join(req["items"]) if len(req["items"]) < 4
           else f"{len(req['items'])} 条", "request": req["id"], "reason": req["reason"],
           "approved_by": decision["by"], "how": "export", "outcome": outcome,
           "export": doc["id"], "use": doc.get("use"), "ledger_seq": seq}
    archive.catalog.put_record("access_register", reg["id"], reg)


def _answer(doc: dict, uses: dict, *, redelivered: bool) -> dict:
    """What the faces show: the export without its stored record, and the approval's use."""
    out = {k: v for k, v in doc.items() if k not in ("record", "signatures")}
    return out | {"redelivered": redelivered, "uses": uses}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _copy_item(archive: Archive, writer: BagWriter, item, progress) -> dict:
    manifests = item.storage.get("manifests") or []
    current = next((m for m in manifests if m["version"] == item.version), None)
    if current is None:
        raise ProblemFound(N_("item {item}: no stored metadata version {version}"),
                           subject=item.id, item=item.id, version=item.version)
    raw = archive.store.read_bytes(current["key"], current["version_id"])
    version = archive.read_manifest(current["key"], current["version_id"])
    if version is None:
        raise ProblemFound(N_("item {item}: the stored metadata version does not verify with "
                              "an archive key; not exported"), subject=item.id, item=item.id)
    if version.digests != item.current.digests or version.item_id != item.id:
        raise ProblemFound(N_("item {item}: the stored metadata names other bytes than the "
                              "catalog"), subject=item.id, item=item.id)
    d = version.description
    obj = item.storage["object"]
    name = _file_name(item.id, d.source, d.kind)

    def chunks():
        for chunk in archive.store.read(obj["key"], obj["version_id"]):
            if progress is not None:
                progress(len(chunk))
            yield chunk

    got = writer.add_stream(f"{item.id}/{name}", chunks())
    if got != version.digests:
        raise ProblemFound(N_("item {item}: the copy read from the store does not match its "
                              "digests (read {read}, signed {signed}); the export is "
                              "abandoned"), subject=item.id, item=item.id, read=got.sha256,
                           signed=version.digests.sha256)
    meta_name = f"metadata-v{version.version:04d}.json"
    writer.add_bytes(f"{item.id}/{meta_name}", raw)
    return {"item_id": item.id, "path": f"data/{item.id}/{name}",
            "metadata_path": f"data/{item.id}/{meta_name}",
            "metadata_version": version.version, "metadata_key_id": version.key_id,
            "metadata_sha256": _sha256(raw), "size": got.size, "sha256": got.sha256,
            "sm3": got.sm3, "kind": d.kind, "unit": d.unit, "device_id": d.device_id,
            "officers": list(d.officers), "recorded_start": iso(d.recorded_start),
            "recorded_end": iso(d.recorded_end), "party": d.party, "cause": d.cause,
            "case_id": d.case_id, "confidential": d.confidential}


# --- verification -----------------------------------------------------------------------------
@dataclass
class ExportReport:
    path: str
    bag: BagReport | None = None
    problems: list[dict] = field(default_factory=list)
    record: dict | None = None
    trusted_key: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, code: str, path: str, message: Text | str) -> None:
        """``message`` in English for JSON, ``text`` beside it in the reader's language."""
        self.problems.append({"code": code, "path": path, "message": str(message),
                              "text": localize(message)})

    def to_dict(self) -> dict:
        r = self.record or {}
        return {"path": self.path, "ok": self.ok, "trusted_key": self.trusted_key,
                "export_id": r.get("export_id"), "request": (r.get("request") or {}).get("id"),
                "extractor": (r.get("extractor") or {}).get("id"),
                "items": len(r.get("items", [])), "problems": self.problems}


def trusted_keyring(key_file: Path | None, fp: str | None, carried_pem: str | None
                    ) -> tuple[Keyring, str]:
    """The archive key the verifier trusts: a PEM file they hold, or the key in the package
    accepted only when its fingerprint (computed here) equals the one they were given."""
    ring = Keyring()
    if key_file is not None:
        try:
            kid = ring.add(load_public_pem(read_text_input(key_file, "--key", 1 << 16)))
        except (OSError, ValueError, InputError) as exc:
            reason = exc.text if isinstance(exc, InputError) else str(exc)
            raise InputError(N_("--key {path}: not an Ed25519 public key: {reason}"),
                             path=str(key_file), reason=reason) from exc
        return ring, kid
    if not fp:
        raise InputError(N_("give the archive key you trust: --key FILE or --fingerprint FP"))
    want = fp.replace(" ", "").replace(":", "").lower()
    if len(want) < 32:
        raise InputError(N_("--fingerprint: give at least the 32 hex digits that "
                            "custody key list prints"))
    if carried_pem:
        try:
            public = load_public_pem(carried_pem)
        except (ValueError, InputError):
            return ring, ""
        kid = key_id_of(public)
        if kid.split(":", 1)[1].startswith(want):
            ring.add(public)
            return ring, kid
    return ring, ""


def verify_export(path: Path, key_file: Path | None = None, fp: str | None = None
                  ) -> ExportReport:
    """Everything offline: the bag, the signatures with a trusted key, and every file against
    the signed extraction record (so a re-made bag with altered files is still caught)."""
    report = ExportReport(str(path))
    with open_bag(path) as source:
        bag = check_source(source)
        report.bag = bag
        for p in bag.problems:
            report.add(p.code, p.path, p.text)
        files = source.files()
        try:
            raw = source.read_bytes(RECORD)
            record = json.loads(raw)
            sigs = json.loads(source.read_bytes(SIGNATURES))
        except (OSError, KeyError, ValueError) as exc:
            report.add("no-record", RECORD, Text("the extraction record or its signatures "
                                                 "cannot be read: {reason}", reason=str(exc)))
            return report
        report.record = record
        carried = (record.get("archive_key") or {}).get("public_key")
        ring, kid = trusted_keyring(key_file, fp, carried)
        report.trusted_key = fingerprint(kid) if kid else ""
        if not kid:
            report.add("untrusted-key", ARCHIVE_PEM, Text(
                "the archive key in the package does not have the fingerprint {fingerprint}: "
                "it is not the key you trust", fingerprint=fp))
        arch = sigs.get("archive") or {}
        if kid and arch.get("key_id") != kid:
            report.add("wrong-key", SIGNATURES, Text(
                "the extraction record is signed by archive key {signer}, not by the key you "
                "trust ({trusted})", signer=fingerprint(arch.get("key_id") or ""),
                trusted=fingerprint(kid)))
        elif kid and not ring.verify(record, arch.get("key_id", ""), arch.get("signature", "")):
            report.add("forged-record", RECORD, Text(
                "the archive signature over the extraction record does not verify: the record "
                "was altered or forged"))
        ext = sigs.get("extractor") or {}
        exring = Keyring()
        try:
            exring.add_pem(record["extractor"]["public_key"])
        except (KeyError, ValueError, InputError):
            pass
        if ext.get("key_id") != record.get("extractor", {}).get("key_id") or not exring.verify(
                record, ext.get("key_id", ""), ext.get("signature", "")):
            report.add("bad-extractor-signature", SIGNATURES, Text(
                "the exporting person's signature does not verify with the key the signed "
                "record names"))
        listed: set[str] = set()
        for it in record.get("items", []):
            for rel, want in ((it["path"], (it["size"], it["sha256"], it["sm3"])),
                              (it["metadata_path"], (None, it["metadata_sha256"], None))):
                listed.add(rel)
                if rel not in files:
                    report.add("removed", rel, Text(
                        "{path} (item {item}) is in the signed extraction record but not in the "
                        "package", path=rel, item=it["item_id"]))
                    continue
                got = bag.digests.get(rel)
                if got is None:
                    from archive.integrity.fixity import digest_chunks

                    got = digest_chunks(source.chunks(rel))
                if (want[0] is not None and got.size != want[0]) or got.sha256 != want[1] or (
                        want[2] is not None and got.sm3 != want[2]):
                    report.add("altered", rel, Text(
                        "{path} (item {item}) differs from the digests in the signed extraction "
                        "record", path=rel, item=it["item_id"]))
            _check_metadata(source, it, ring, kid, report)
        for rel in sorted(f for f in files if f.startswith("data/") and f not in listed):
            report.add("added", rel, Text("{path} is not in the signed extraction record "
                                          "(added)", path=rel))
    seen = set()
    unique = []
    for p in report.problems:  # the bag check and the record check may name one change twice
        k = (p["code"], p["path"])
        if k not in seen:
            seen.add(k)
            unique.append(p)
    report.problems = unique
    return report


def _check_metadata(source, it: dict, ring: Keyring, kid: str, report: ExportReport) -> None:
    rel = it["metadata_path"]
    try:
        doc = json.loads(source.read_bytes(rel))
        version = MetadataVersion.from_dict(doc)
    except (OSError, KeyError, ValueError, TypeError, InputError):
        report.add("bad-metadata", rel, Text("{path} is not a readable metadata version",
                                             path=rel))
        return
    if version.key_id == kid and not ring.verify(doc["manifest"], version.key_id,
                                                 version.signature):
        report.add("bad-metadata-signature", rel, Text(
            "{path}: the archive signature does not verify", path=rel))
    if version.digests != Digests(it["size"], it["sha256"], it["sm3"]):
        report.add("metadata-mismatch", rel, Text("{path} names other bytes than the copy",
                                                  path=rel))
