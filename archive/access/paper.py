"""A paper approval: the approver signed a printed request form, a keeper records it.

Leaders who approve access may have neither an OS account on the archive machine nor a
passkey; the rules still need their decision ("经批准并办理登记手续"). The keeper (an archivist
or an administrator) scans the signed form, and custody keeps the scan in the WORM store and
records the decision in the approver's name *as recorded by the keeper*: the decision names
its basis (``paper``), the scan's key and digest and the keeper, and it is signed by the
keeper's own key — the keeper vouches for the paper, never signs in the approver's name.

Every rule of an ordinary approval still applies to the named approver (role, position for
each unit, clearance, not their own request, the request pending and not expired), and the
keeper may be neither the requester nor the approver. Every refusal is recorded.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import magic

from archive import people
from archive.access import requests
from archive.domain.errors import InputError
from archive.domain.model import iso, parse_iso
from archive.inputs import read_input
from archive.ledger.chain import Actor
from archive.service import Archive
from i18n import N_, Text

KEEPER_ROLES = ("archivist", "administrator")
PREFIX = "documents/paper-approvals/"
SCAN_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png",
              "image/tiff": "tif"}
MAX_SCAN = 64 << 20


def _scan(path: Path) -> tuple[bytes, str]:
    data = read_input(path, Text("the scanned approval form"), limit=MAX_SCAN)
    media_type = magic.from_buffer(data[:65536], mime=True)
    if media_type not in SCAN_TYPES:
        raise InputError(N_("{path}: a {found} file; a scanned form is a PDF, JPEG, PNG or "
                            "TIFF"), subject=str(path), path=str(path), found=media_type)
    return data, media_type


@people.records_refusals("access record-paper")
def record_paper_decision(archive: Archive, actor: Actor, request_id: str, approver_id: str,
                          approve: bool, scan: Path, signed_on: datetime, note: str,
                          ctx: requests.AccessContext, exports: int | None = None) -> dict:
    """Record ``approver_id``'s decision on paper, the scan kept in WORM; signed by the keeper
    (``actor``). Refused — and recorded — when the keeper may not record it or the approver
    may not decide the request."""
    catalog = archive.catalog
    keeper = people.require_role(catalog, actor, KEEPER_ROLES,
                                 Text("record a paper approval"))
    req = requests.get_request(catalog, request_id)
    action = "approve" if approve else "deny"
    if actor.person_id in (req["requester"], approver_id):
        why = Text("{person} may not record a paper decision on a request they made or "
                   "decide themselves", person=keeper.id)
        raise requests.refusal(archive, actor, action, request_id, why)
    approver = people.person_of(catalog, approver_id)
    if approver is None:
        raise InputError(N_("{person} is not a registered person: register the approver "
                            "(custody people add, no account needed) before recording their "
                            "decision"), subject=approver_id, person=approver_id)
    if signed_on.tzinfo is None:
        raise InputError(N_("the date the form was signed needs a time zone"))
    if signed_on > datetime.now(timezone.utc) + timedelta(minutes=5):
        raise InputError(N_("the form cannot have been signed in the future ({signed_on})"),
                         signed_on=iso(signed_on))
    if signed_on < parse_iso(req["at"]):
        raise InputError(N_("the form is dated before the request {request} was made"),
                         subject=request_id, request=request_id)
    data, media_type = _scan(scan)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{PREFIX}{request_id}/{digest}.{SCAN_TYPES[media_type]}"
    existing = archive.store.versions(key)
    if existing:
        version_id = existing[0]
    else:
        until = datetime.now(timezone.utc) + timedelta(days=366 * archive.ledger.checkpoint_years)
        version_id = archive.store.put_blob(key, data, until).version_id
    basis = {"basis": "paper", "recorded_by": actor.person_id, "signed_on": iso(signed_on),
             "scan": {"key": key, "version_id": version_id, "sha256": digest,
                      "size": len(data), "media_type": media_type, "file": scan.name}}
    return requests.record_decision(archive, actor, req, approver, approve, note, ctx,
                                    exports=exports, basis=basis)
