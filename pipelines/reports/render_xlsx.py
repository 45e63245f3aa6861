"""A document as an XLSX workbook: the header on the first sheet, then one sheet per table with its
caption in row 1, the official headings in row 2, the rows from row 3 and the notes below. Numbers
stay numbers (with the number format the document shows them in). The same document gives the
same bytes: the workbook's created/modified time is the document's stamp and every zip entry
carries that time."""
from __future__ import annotations

import re
import zipfile
from datetime import datetime, timezone
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from pipelines.reports.document import KINDS, MISSING, Document, Table

HEADER_SHEET = "报告说明"
TITLE_FONT = Font(bold=True, size=13)
HEADING_FONT = Font(bold=True)
HEADING_FILL = PatternFill("solid", fgColor="DDE5F0")
THIN = Side(style="thin", color="999999")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
MAX_WIDTH = 60


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _header_sheet(sheet, document: Document) -> None:
    sheet.title = HEADER_SHEET
    sheet["A1"] = document.title
    sheet["A1"].font = TITLE_FONT
    for row, (label, value) in enumerate(document.header, start=3):
        sheet.cell(row=row, column=1, value=label).font = HEADING_FONT
        sheet.cell(row=row, column=2, value=value).alignment = WRAP
    row = len(document.header) + 4
    sheet.cell(row=row, column=1, value="工作表 (sheets)").font = HEADING_FONT
    for offset, table in enumerate(document.tables, start=1):
        sheet.cell(row=row + offset, column=1, value=table.sheet)
        sheet.cell(row=row + offset, column=2, value=table.title)
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 120


def _table_sheet(sheet, table: Table) -> None:
    sheet.title = table.sheet
    sheet.cell(row=1, column=1, value=table.title).font = TITLE_FONT
    widths = []
    for col, column in enumerate(table.columns, start=1):
        cell = sheet.cell(row=2, column=col, value=column.heading)
        cell.font, cell.fill, cell.border, cell.alignment = HEADING_FONT, HEADING_FILL, BORDER, WRAP
        widths.append(min(max(_width(column.heading) // 2 + 2, 8), MAX_WIDTH))
    for r, values in enumerate(table.rows, start=3):
        for col, (column, value) in enumerate(zip(table.columns, values), start=1):
            missing = value is None or (isinstance(value, float) and value != value)
            cell = sheet.cell(row=r, column=col, value=MISSING if missing else value)
            cell.border = BORDER
            if not missing and not isinstance(value, str):
                cell.number_format = KINDS[column.kind][1]
            else:
                cell.alignment = WRAP
            widths[col - 1] = min(max(widths[col - 1], _width(str(cell.value)) + 2), MAX_WIDTH)
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = "A3"
    row = len(table.rows) + 4
    for note in table.notes:
        sheet.cell(row=row, column=1, value=f"注：{note}")
        row += 1


def render(document: Document) -> bytes:
    workbook = Workbook()
    _header_sheet(workbook.active, document)
    for table in document.tables:
        _table_sheet(workbook.create_sheet(), table)
    stamp = document.stamp.astimezone(timezone.utc).replace(tzinfo=None)
    workbook.properties.creator = "envmon"
    workbook.properties.title = document.title
    workbook.properties.created = stamp
    workbook.properties.modified = stamp
    buffer = BytesIO()
    workbook.save(buffer)
    return _fixed_times(buffer.getvalue(), stamp)


def _dcterms_prefix(core: bytes) -> bytes:
    """openpyxl writes core.xml through lxml, whose namespace prefixes are global: a library
    that registers its own prefix for DC terms (OWSLib registers 'dct') changes the bytes, and the
    times fixed below would be missed. The same document must give the same bytes: 'dcterms' always."""
    for prefix in set(re.findall(rb'xmlns:(\w+)="http://purl\.org/dc/terms/"', core)) - {b"dcterms"}:
        core = re.sub(rb"\b" + prefix + rb"(?=[:=])", b"dcterms", core)
    return core


def _fixed_times(data: bytes, stamp: datetime) -> bytes:
    """openpyxl writes "now" as the modified time and into every zip entry: put the stamp there."""
    when = max(stamp, datetime(1980, 1, 1))
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                                 lambda m: m.group(1) + iso.encode() + m.group(2), _dcterms_prefix(content))
            entry = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, content)
    return out.getvalue()
