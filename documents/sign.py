"""The document-signing key and certificate, the PAdES signature, and offline verification.

Decision (README): documents are signed with ECDSA P-256 / SHA-256 (PAdES baseline B-B, by
pyHanko), the algorithm WPS, Foxit and Adobe all validate. The document key's X.509
certificate is self-signed with that same P-256 key, so that no reader ever has to process an
Ed25519 signature: a bureau trusts that certificate in its reader and every document then
shows as valid. The archive's Ed25519 key certifies it by a signed statement (the
certificate's SHA-256, the algorithm, the archive key id) published in the WORM store beside
the certificate and carried in every PDF, so that ``custody verify-pdf`` proves offline, with
the archive's public key alone, that the certificate is the archive's. The document key lives
in the home's keys/ beside archive.key (mode 0600); when the archive key rotates, the next
document makes a new document key certified by the new archive key (the old one is set aside
in keys/retired/, its certificate and statement stay in the store).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive.domain.canonical import canonical
from archive.domain.errors import InputError, WormViolation
from archive.domain.model import iso
from archive.integrity.signing import Keyring, SigningKey, fingerprint
from archive.worm.base import WormStore
from i18n import N_

ALGORITHM = "ECDSA P-256 / SHA-256 (PAdES B-B)"
STORE_PREFIX = "keys/document/"
STATEMENT_ATTACHMENT = "custody-document-certificate.json"
RECORD_ATTACHMENT = "custody-document-record.json"  # documents.render names it too
STATEMENT_TYPE = "custody.document-signing-certificate"
CERT_YEARS = 50
FIELD_NAME = "custody-signature"


@dataclass
class DocumentKey:
    private_pem: bytes
    cert_pem: bytes
    statement: dict

    @property
    def cert_sha256(self) -> str:
        return self.statement["certificate_sha256"]


def _cert_der(cert_pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)


def _new_certificate(private, subject_unit: str, archive_key: SigningKey) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "custody 电子文书签名"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, (subject_unit or "custody")[:64]),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                           ("档案密钥 " + fingerprint(archive_key.key_id))[:64]),
    ])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=366 * CERT_YEARS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .sign(private, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _statement(cert_pem: bytes, archive_key: SigningKey) -> dict:
    body = {"type": STATEMENT_TYPE, "certificate_sha256":
            hashlib.sha256(_cert_der(cert_pem)).hexdigest(),
            "certificate_pem": cert_pem.decode(), "algorithm": ALGORITHM,
            "archive_key_id": archive_key.key_id, "at": iso(datetime.now(timezone.utc))}
    return body | {"signature": archive_key.sign(body)}


def statement_verifies(statement: dict, keyring: Keyring) -> bool:
    body = {k: v for k, v in statement.items() if k != "signature"}
    return (statement.get("type") == STATEMENT_TYPE
            and keyring.verify(body, statement.get("archive_key_id", ""),
                               statement.get("signature", "")))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _load(keys_dir: Path) -> DocumentKey | None:
    key_path = keys_dir / "document.key"
    try:
        mode = key_path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise InputError(N_("key file {path} has mode {mode}; it must be readable by its "
                            "owner only (0600)"), path=str(key_path), mode=f"{mode:04o}",
                         subject=str(key_path))
    try:
        return DocumentKey(key_path.read_bytes(), (keys_dir / "document.crt").read_bytes(),
                           json.loads((keys_dir / "document.statement.json").read_text()))
    except (OSError, ValueError) as exc:
        raise InputError(N_("the document-signing key in {folder} is incomplete ({reason}); "
                            "move document.* aside and print again to make a new one"),
                         folder=str(keys_dir), reason=str(exc), subject=str(keys_dir)) from exc


def document_key(keys_dir: Path, archive_key: SigningKey, store: WormStore,
                 unit_name: str = "", years: int = 100) -> DocumentKey:
    """The current document-signing key, certified by the current archive key: made (and its
    certificate and statement published in the store) the first time, and again after the
    archive key rotated."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    current = _load(keys_dir)
    if current is not None and current.statement.get("archive_key_id") != archive_key.key_id:
        retired = keys_dir / "retired"
        retired.mkdir(parents=True, exist_ok=True, mode=0o700)
        tag = current.cert_sha256[:16]
        for name in ("document.crt", "document.statement.json", "document.key"):
            (keys_dir / name).rename(retired / f"{tag}-{name}")
        current = None
    if current is None:
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        cert_pem = _new_certificate(private, unit_name, archive_key)
        statement = _statement(cert_pem, archive_key)
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # certificate and statement first: a key file present means the set is complete
        (keys_dir / "document.crt").write_bytes(cert_pem)
        (keys_dir / "document.statement.json").write_text(
            json.dumps(statement, ensure_ascii=False, indent=1))
        try:
            _write_private(keys_dir / "document.key", pem)
        except FileExistsError:  # another process made one first: use theirs
            return document_key(keys_dir, archive_key, store, unit_name, years)
        current = DocumentKey(pem, cert_pem, statement)
    publish(store, current, years)
    return current


def publish(store: WormStore, key: DocumentKey, years: int = 100) -> None:
    """The certificate and its statement in the WORM store, once."""
    until = datetime.now(timezone.utc) + timedelta(days=366 * years)
    base = STORE_PREFIX + key.cert_sha256
    for name, data in ((base + ".crt", key.cert_pem),
                       (base + ".statement.json", canonical(key.statement))):
        if not store.versions(name):
            try:
                store.put_blob(name, data, until)
            except WormViolation:  # published by a racing process
                pass


def sign_pdf(pdf: bytes, key: DocumentKey, reason: str, location: str) -> bytes:
    """PAdES B-B signature over the whole PDF by the document key."""
    from asn1crypto import keys as akeys
    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    private = serialization.load_pem_private_key(key.private_pem, password=None)
    der_key = private.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    cert = ax509.Certificate.load(_cert_der(key.cert_pem))
    signer = signers.SimpleSigner(signing_cert=cert,
                                  signing_key=akeys.PrivateKeyInfo.load(der_key),
                                  cert_registry=SimpleCertificateStore.from_certs([cert]))
    meta = signers.PdfSignatureMetadata(field_name=FIELD_NAME, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        reason=reason, location=location or None)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    return signers.sign_pdf(writer, meta, signer=signer).getvalue()


# --- offline verification -----------------------------------------------------------------
def _attachments(reader) -> dict[str, bytes]:
    """Embedded files of the PDF by name (the document record, the certificate statement)."""
    out: dict[str, bytes] = {}
    names = reader.root.get("/Names")
    if names is None:
        return out
    tree = names.get("/EmbeddedFiles")
    if tree is None:
        return out

    def walk(node) -> None:
        for kid in node.get("/Kids", []) or []:
            walk(kid.get_object())
        pairs = list(node.get("/Names", []) or [])
        for i in range(0, len(pairs) - 1, 2):
            spec = pairs[i + 1].get_object()
            name = str(spec.get("/UF") or spec.get("/F") or pairs[i])
            stream = spec["/EF"].get("/F").get_object()
            out[name] = stream.data

    walk(tree.get_object())
    return out


def verify_pdf(data: bytes, keyring: Keyring) -> dict:
    """Everything wrong with a custody PDF, offline: the PAdES signature intact and covering
    the whole file, its certificate certified by an archive key of ``keyring``, the embedded
    document record signed by an archive key. ``ok`` when nothing is wrong."""
    problems: list[dict] = []
    report: dict = {"ok": False, "problems": problems, "algorithm": None, "record": None,
                    "certificate_sha256": None, "archive_key_id": None}

    def problem(code: str, message: str) -> dict:
        problems.append({"code": code, "message": message})
        return report

    try:
        from pyhanko.pdf_utils.reader import PdfFileReader

        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:  # noqa: BLE001 - any damage to the file is a finding, not a crash
        return problem("pdf-unreadable", f"文件不是可读的 PDF：{exc}")
    if not signatures:
        return problem("signature-missing", "PDF 中没有数字签名")
    sig = signatures[-1]
    try:
        signer_cert = sig.signer_cert
        cert_sha = hashlib.sha256(signer_cert.dump()).hexdigest()
        report["certificate_sha256"] = cert_sha
        report["algorithm"] = sig.signer_info["signature_algorithm"]["algorithm"].native
    except Exception as exc:  # noqa: BLE001
        return problem("signature-unreadable", f"数字签名无法读取：{exc}")
    try:
        files = _attachments(reader)
    except Exception as exc:  # noqa: BLE001
        files = {}
        problem("attachments-unreadable", f"附件无法读取：{exc}")
    _check_signature(sig, signer_cert, problem)
    statement = _json(files.get(STATEMENT_ATTACHMENT), "statement", problem)
    if statement is not None:
        report["archive_key_id"] = statement.get("archive_key_id")
        if not statement_verifies(statement, keyring):
            problem("certificate-not-certified", "签名证书的认证声明无法用可信的档案公钥验证")
        elif statement.get("certificate_sha256") != cert_sha:
            problem("certificate-mismatch", "签名所用证书不是档案密钥认证的证书")
    record = _json(files.get(RECORD_ATTACHMENT), "record", problem)
    if record is not None:
        report["record"] = {k: record.get(k) for k in ("id", "kind", "subject", "number",
                                                         "title", "issued_at")}
        body = {k: v for k, v in record.items() if k != "signature"}
        if not keyring.verify(body, record.get("key_id", ""), record.get("signature", "")):
            problem("record-signature-invalid", "内嵌的文书记录无法用可信的档案公钥验证")
    report["ok"] = not problems
    return report


def _json(raw: bytes | None, what: str, problem) -> dict | None:
    if raw is None:
        problem(f"{what}-missing", {"statement": "PDF 未附带签名证书的认证声明",
                                    "record": "PDF 未附带文书记录"}[what])
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        problem(f"{what}-unreadable", f"附件无法解析：{exc}")
        return None


def _check_signature(sig, signer_cert, problem) -> None:
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    try:
        # trust is the statement's business: the certificate is taken as its own root here,
        # so this checks only that the bytes are what the key signed
        ctx = ValidationContext(trust_roots=[signer_cert], allow_fetching=False)
        status = validate_pdf_signature(sig, ctx)
    except (SignatureValidationError, ValueError, KeyError, TypeError) as exc:
        problem("signature-invalid", f"数字签名无效：{exc}")
        return
    if not (status.intact and status.valid):
        problem("signature-invalid", "数字签名与文件内容不符（文件已被改动）")
    elif status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        problem("signature-not-covering", "签名之后文件又被追加修改，签名未覆盖整个文件")
