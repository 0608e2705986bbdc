"""The access register (调阅登记) with filters, and the printable 调阅登记: the same signed
document the command line issues (documents/), shown as its HTML and fetched as its PDF."""

from __future__ import annotations

import base64
import hashlib
import re
from html import unescape

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

import bootstrap
from archive.access import register
from archive.domain.errors import CustodyError
from documents import issue
from reports.registers import register_document
from web.app import CSP
from web.auth import signed_in
from web.common import local_input, settings

bp = Blueprint("register", __name__)
KINDS = {"view": "查看", "refusal": "拒绝", "export": "提取"}
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
_STYLE_ATTR = re.compile(r"""\sstyle=(?:"([^"]*)"|'([^']*)')""")


def _period(args):
    """From the start of the first day to the end of the last (dates in local time)."""
    return (local_input(args.get("from"), None, "from"),
            local_input(args.get("to"), None, "to", end_of_day=True))


@bp.get("/register")
@signed_in
def page():
    args = request.args
    rows, error = [], None
    try:
        start, end = _period(args)
        rows = register.read_register(g.archive, g.actor, start, end)
    except CustodyError as exc:
        error = exc
    person = (args.get("person") or "").strip()
    item = (args.get("item") or "").strip()
    outcome = (args.get("outcome") or "").strip()
    if person:
        rows = [r for r in rows if person in (r["person"], r["name"])]
    if item:
        rows = [r for r in rows if r["item"] == item]
    if outcome == "refused":
        rows = [r for r in rows if r["kind"] == "refusal"]
    elif outcome == "done":
        rows = [r for r in rows if r["kind"] != "refusal"]
    zone = settings().unit_zone(None)
    return render_template("register.html", args=args, error=error,
                           columns=register.REGISTER_COLUMNS,
                           rows=[register.row_cells(r, zone) for r in rows])


@bp.post("/register/print")
@signed_in
def print_register():
    """Issue a 调阅登记 for the period (signed, kept in the store) and show it."""
    start, end = _period(request.form)
    doc = register_document(g.archive, g.actor, settings(), start, end,
                            keys_dir=bootstrap.keys_dir(settings()))
    return redirect(url_for("register.document", kind="access-register",
                            subject=doc["subject"]))


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _with_style_hashes(html: str) -> str:
    """The CSP of a document page: no script at all, and styles only the document's own --
    its style blocks and style attributes, each allowed by its hash (the printed HTML
    carries its style inline, and the console shows the very same page)."""
    blocks = {_sha(m.group(1)) for m in _STYLE.finditer(html)}
    attrs = {_sha(unescape(m.group(1) if m.group(1) is not None else m.group(2)))
             for m in _STYLE_ATTR.finditer(html)}
    allowed = " ".join(sorted(blocks) + (["'unsafe-hashes'"] + sorted(attrs) if attrs else []))
    return (CSP.replace("style-src 'self'", f"style-src 'self' {allowed}".rstrip())
            .replace("script-src 'self'", "script-src 'none'"))


@bp.get("/documents/<kind>/<subject>")
@signed_in
def document(kind: str, subject: str):
    html = issue.html(g.archive, g.actor, settings(), kind, subject)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _with_style_hashes(html)
    return response


@bp.get("/documents/<kind>/<subject>.pdf")
@signed_in
def document_pdf(kind: str, subject: str):
    doc = issue.reprint(g.archive, g.actor, settings(), kind, subject,
                        keys_dir=bootstrap.keys_dir(settings()))
    return Response(doc["pdf"], mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{kind}-{subject}.pdf"'})
