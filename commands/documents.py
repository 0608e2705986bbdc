"""custody print, verify-pdf, documents: the official documents (正式文书), printed from the
WORM store byte for byte, and checked offline against the archive's public key.

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from pathlib import Path

import click

import bootstrap
from archive.domain.errors import InputError
from archive.inputs import read_input, read_text_input, write_output
from archive.integrity.signing import Keyring
from commands.base import Context, command, emit_json, json_option
from documents import issue, kinds
from documents.sign import verify_pdf
from i18n import N_, _, ngettext


@click.command("print")
@click.argument("kind", metavar="KIND")
@click.argument("document_id", metavar="ID")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the PDF to this file.")
@json_option
@command
def print_cmd(ctx: Context, kind: str, document_id: str, out: Path, as_json: bool) -> int:
    """An official document as a signed A4 PDF: issued the first time (export-statement ID,
    sampling-report ID, ...), the very same bytes every later time. KIND is one of the codes
    'custody documents' lists."""
    doc = issue.issue(ctx.archive, ctx.actor(), ctx.settings, kind, document_id,
                      keys_dir=bootstrap.keys_dir(ctx.settings))
    line = (_("{title} {number} issued to {out} ({size} bytes, SHA-256 {sha256})") if doc["new"]
            else _("{title} {number} printed again to {out} ({size} bytes, SHA-256 {sha256})"))
    deliver(doc, out, as_json, line.format(title=doc["title"], number=doc["number"], out=out,
                                           size=doc["size"], sha256=doc["sha256"]))
    return 0


def print_document(ctx: Context, kind: str, subject: str | None, out: Path, as_json: bool,
                   params: dict | None = None, option: str = "--pdf",
                   quiet: bool = False) -> dict:
    """Issue (or print again) the document ``kind`` of ``subject`` to ``out``, for a command
    that offers its document beside its own output; the document's record (not its bytes),
    shown unless ``quiet`` (the command shows it with its own output)."""
    doc = issue.issue(ctx.archive, ctx.actor(), ctx.settings, kind, subject,
                      keys_dir=bootstrap.keys_dir(ctx.settings), params=params)
    write_output(out, doc["pdf"], option)
    shown = {k: v for k, v in doc.items() if k != "pdf"} | {"out": str(out)}
    if quiet:
        return shown
    if as_json:
        emit_json(shown)
    else:
        click.echo(written_line(shown))
    return shown


def written_line(doc: dict) -> str:
    return _("{title} {number} written to {out}").format(title=doc["title"],
                                                         number=doc["number"], out=doc["out"])


def deliver(doc: dict, out: Path, as_json: bool, line: str) -> None:
    """An issued document's PDF written to ``out``; its record (not its bytes) shown."""
    write_output(out, doc["pdf"], "--out")
    if as_json:
        emit_json({k: v for k, v in doc.items() if k != "pdf"} | {"out": str(out)})
    else:
        click.echo(line)


@click.command("documents")
@click.option("--kind", help="Only documents of this kind.")
@json_option
@command
def documents_cmd(ctx: Context, kind: str | None, as_json: bool) -> int:
    """The document kinds, and the documents issued so far (kept in the WORM store)."""
    rows = issue.issued(ctx.archive, kind)
    if as_json:
        emit_json({"kinds": [{"code": k.code, "title": k.title} for k in kinds.all_kinds()],
                   "documents": rows})
        return 0
    click.echo(_("kinds: {kinds}").format(
        kinds=", ".join(f"{k.code} ({k.title})" for k in kinds.all_kinds())))
    for r in rows:
        click.echo(_("{kind} {id} {size} bytes").format(
            kind=f"{r['kind']:<24}", id=f"{r['subject']:<40}", size=f"{r['size']:>9}"))
    return 0


@click.command("verify-pdf")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An archive public key (PEM) you trust; repeat for older keys. Without "
                   "it, the keys of this home's archive.")
@json_option
@command
def verify_pdf_cmd(ctx: Context, path: Path, key_files: tuple[Path, ...], as_json: bool) -> int:
    """Check a custody PDF offline: its PAdES signature intact over the whole file, the
    signing certificate certified by the archive key, the embedded document record signed by
    the archive key."""
    if key_files:
        ring = Keyring()
        for f in key_files:
            try:
                ring.add_pem(read_text_input(f, "public key"))
            except InputError as exc:
                raise InputError(N_("{path}: {reason}"), path=str(f), reason=exc.text,
                                 subject=str(f)) from exc
    else:
        ring = ctx.archive.archive_keys
    report = verify_pdf(read_input(path, "PDF"), ring)
    if as_json:
        emit_json(report)
    else:
        rec = report["record"] or {}
        click.echo(f"{path}: {rec.get('title') or '?'} {rec.get('number') or ''}")
        for p in report["problems"]:
            click.echo(f"  {p['code']:<28} {p['message']}")
        click.echo("文书完好：签名有效，证书由档案密钥认证，文书记录签名有效" if report["ok"]
                   else ngettext("{n} problem", "{n} problems",
                                 len(report["problems"])).format(n=len(report["problems"])))
    return 0 if report["ok"] else 1


COMMANDS = (print_cmd, documents_cmd, verify_pdf_cmd)
