"""Registers printed on paper: the access register (调阅登记) as an A4 PDF."""

from __future__ import annotations

from archive.access.register import REGISTER_COLUMNS, row_cells
from archive.domain.errors import InputError


def register_pdf(rows: list[dict], zone, title: str = "调阅登记") -> bytes:
    """The register as an A4 PDF (matplotlib with the CJK font the yearly report uses)."""
    import io
    import logging

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from reports.html import cjk_font

    font = cjk_font()
    if font is None:
        raise InputError("no font with Chinese glyphs is installed (fonts-wqy-zenhei); "
                         "use --format table or csv")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    buf = io.BytesIO()
    per_page = 25
    pages = [rows[i:i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    with rc_context({"font.family": [font, "DejaVu Sans"], "pdf.fonttype": 42}), \
            PdfPages(buf, metadata={"Title": title, "Creator": "custody"}) as pdf:
        for n, page in enumerate(pages, 1):
            fig = Figure(figsize=(11.69, 8.27))  # A4 landscape
            ax = fig.add_axes((0.03, 0.05, 0.94, 0.85))
            ax.axis("off")
            fig.text(0.5, 0.94, f"{title}（第 {n}/{len(pages)} 页）", ha="center", fontsize=16)
            cells = [row_cells(r, zone) for r in page] or [["（无记录）"] + [""] * 7]
            table = ax.table(cellText=cells, colLabels=list(REGISTER_COLUMNS), loc="upper center",
                             cellLoc="left", colWidths=[.1, .12, .2, .08, .17, .17, .07, .07])
            table.auto_set_font_size(False)
            table.set_fontsize(7)
            pdf.savefig(fig)
    return buf.getvalue()

