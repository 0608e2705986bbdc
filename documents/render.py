"""Document records to HTML (Jinja2) and HTML to PDF (WeasyPrint).

The HTML is the document: the web console shows the very same page that WeasyPrint lays out
on A4. Fonts are Debian's fonts-noto-cjk, named in the style sheet and embedded (subset) by
WeasyPrint; a machine without them is refused rather than printing empty boxes.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from archive.domain.errors import ServiceUnavailable
from archive.domain.model import parse_iso
from documents import names
from i18n import N_

TEMPLATES = Path(__file__).parent / "templates"
RECORD_ATTACHMENT = "custody-document-record.json"  # verified by documents.sign
# a zone people recognise by its Chinese name; any other is named by its IANA name only
ZONE_ZH = {"Asia/Shanghai": "北京时间", "Asia/Chongqing": "北京时间", "Asia/Harbin": "北京时间",
           "Asia/Urumqi": "乌鲁木齐时间", "Asia/Hong_Kong": "香港时间", "Asia/Macau": "澳门时间",
           "Asia/Taipei": "台北时间", "UTC": "协调世界时"}
FONT_FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC")


def _zone(record: dict) -> ZoneInfo:
    return ZoneInfo(record.get("zone") or "UTC")


def local_time(value: object, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An ISO time (stored in UTC) as people read it in the document's zone; "—" for none."""
    if value in (None, "", "-"):
        return "—"
    dt = value if isinstance(value, datetime) else parse_iso(str(value))
    return dt.astimezone(zone).strftime(fmt)


def zone_note(zone_name: str) -> str:
    """The one sentence that names the zone of every time in a document."""
    label = ZONE_ZH.get(zone_name)
    return f"时间均为{label}（{zone_name}）" if label else f"时间均为 {zone_name} 时区时间"


def size_label(n: object) -> str:
    if n in (None, ""):
        return "—"
    size = int(n)  # type: ignore[arg-type]
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}（{size} 字节）"
    return f"{size} 字节"


@lru_cache(maxsize=1)
def environment():  # -> jinja2.Environment; built once per process
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["person"] = names.person_label
    env.filters["people"] = lambda ps: "、".join(names.person_label(p) for p in ps or []) or "—"
    env.filters["zh"] = lambda code, category: names.zh(category, code)
    env.filters["size"] = size_label
    env.filters["dash"] = lambda v: "—" if v in (None, "", []) else v
    env.filters["item_label"] = names.item_label
    return env


def render_html(record: dict, template: str) -> str:
    """The document as HTML: ``record`` is the signed document record (its ``data`` is what
    the kind's builder returned)."""
    zone = _zone(record)
    env = environment()
    doc = {k: v for k, v in record.items() if k != "data"}
    return env.get_template(template).render(
        doc=doc, data=record["data"], zone_note=zone_note(zone.key),
        local=lambda v, fmt="%Y-%m-%d %H:%M:%S": local_time(v, zone, fmt),
        localdate=lambda v: local_time(v, zone, "%Y-%m-%d"),
        css=(TEMPLATES / "style.css").read_text(encoding="utf-8"))


def _fonts_installed() -> bool:
    import subprocess

    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(f in out for f in FONT_FAMILIES)


@lru_cache(maxsize=1)
def _check_fonts() -> None:
    if not _fonts_installed():
        raise ServiceUnavailable(N_("the Chinese fonts for documents are not installed "
                                    "(Debian: apt-get install fonts-noto-cjk)"))


def html_to_pdf(html: str, record: dict | None = None,
                extra: dict[str, bytes] | None = None) -> bytes:
    """A4 PDF of the HTML, fonts embedded; the signed ``record`` (and the ``extra`` files:
    the signing certificate's statement) ride along as attached files so that the PDF alone
    carries what it was rendered from."""
    _check_fonts()
    from weasyprint import HTML, Attachment

    attachments = []
    if record is not None:
        body = json.dumps(record, ensure_ascii=False, sort_keys=True, indent=1).encode()
        attachments.append(Attachment(string=body, name=RECORD_ATTACHMENT,
                                      description="custody signed document record"))
    for name, data in (extra or {}).items():
        attachments.append(Attachment(string=data, name=name))
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(attachments=attachments)
