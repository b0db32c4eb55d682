"""Rendering a report's content into files: HTML and PDF from templates, JSON, CSV and XLSX from its data."""

from __future__ import annotations

import csv
import io
import json

from django.template.loader import render_to_string

from core.spreadsheet import formula_safe
from reports.content import Content, cell

# The documents live in reports/templates/ (not the portal's templates/): they are PDFs and e-mails that must
# carry their own <style> (a mail client loads no stylesheet); the one page that shows one in the browser,
# the schedule preview, relaxes style-src for that response alone.
HTML_TEMPLATES = {
    "executive_brief": "reports/documents/executive_brief.html",
    "board_kpi": "reports/documents/board_kpi.html",
    "evidence_summary": "reports/documents/evidence_summary.html",
}


def render_html(report_type: str, content: Content, meta: dict) -> bytes:
    return render_to_string(HTML_TEMPLATES[report_type], {**content.context, "meta": meta}).encode("utf-8")


def render_pdf(html: bytes) -> bytes:
    # Imported here: WeasyPrint loads pango through cffi at import, which only PDF rendering needs.
    from weasyprint import HTML

    return HTML(string=html.decode("utf-8")).write_pdf()


def render_json(document: dict) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode(
        "utf-8"
    )


def render_csv(content: Content) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(content.columns)
    for row in content.rows:
        writer.writerow([formula_safe(cell(v)) for v in row])
    return out.getvalue().encode("utf-8")


def render_xlsx(content: Content, sheet_title: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=sheet_title[:31])
    sheet.append(content.columns)
    for row in content.rows:
        sheet.append([formula_safe(cell(v)) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
