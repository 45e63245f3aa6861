"""A document as one HTML page that opens offline: the header, the figures as inline SVG, the
tables with their official headings. No script, no outside resource; the PDF is printed from this
same page (render_pdf), with print rules for A4 landscape."""
from __future__ import annotations

from html import escape

from pipelines.reports.document import Document, Table, format_cell
from pipelines.reports.figures import FONT

STATUS_CLASSES = {"未达标": "bad", "未达到": "bad", "数据不全": "warn", "无有效数据": "warn", "待定（数据不全）": "warn",
                  "达标": "good", "达到": "good"}

WIDE = 12   # columns: a table wider than this prints in a smaller type
STYLE = f"""
body {{ font-family: {FONT}; font-size: 10.5pt; color: #222; margin: 24px; }}
h1 {{ font-size: 18pt; margin: 0 0 8px 0; }}
h2 {{ font-size: 12.5pt; margin: 22px 0 6px 0; break-after: avoid; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 4px; }}
th, td {{ border: 1px solid #999; padding: 2px 4px; vertical-align: top; }}
th {{ background: #dde5f0; font-weight: bold; }}
td.number {{ text-align: right; white-space: nowrap; }}
td:first-child {{ white-space: nowrap; }}
td.bad {{ background: #f8d4d4; }}
td.warn {{ background: #fff1c2; }}
td.good {{ background: #dff0d8; }}
table.header th {{ width: 15em; text-align: left; }}
p.note {{ font-size: 8.5pt; color: #555; margin: 2px 0; }}
figure {{ display: inline-block; width: 49%; margin: 8px 0; break-inside: avoid; vertical-align: top; }}
figure svg {{ width: 100%; height: auto; }}
div.figures {{ orphans: 1; widows: 1; }}
figcaption {{ font-size: 9pt; color: #555; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; }}
@page {{ size: A4 landscape; margin: 14mm 12mm 16mm 12mm;
        @bottom-center {{ content: counter(page) " / " counter(pages); font-family: {FONT}; font-size: 8pt; }}
        @top-right {{ content: string(doctitle); font-family: {FONT}; font-size: 8pt; color: #666; }} }}
@media print {{ body {{ margin: 0; font-size: 8.5pt; }} h1 {{ string-set: doctitle content(); }}
               th, td {{ padding: 1px 3px; }} table.wide {{ font-size: 7pt; }} }}
"""


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(c.heading)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for column, value in zip(table.columns, row):
            text = format_cell(value, column.kind)
            kind = "number" if column.kind != "text" and not isinstance(value, str) else STATUS_CLASSES.get(text, "")
            cells.append(f'<td class="{kind}">{escape(text)}</td>' if kind else f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f'<p class="note">注：{escape(note)}</p>' for note in table.notes)
    return (f'<h2 id="{escape(table.key)}">{escape(table.title)}</h2>'
            f'<table class="{"wide" if len(table.columns) > WIDE else ""}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>{notes}")


def render(document: Document) -> str:
    stamp = document.stamp.isoformat()
    header = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in document.header)
    figures = "".join(f'<figure id="{escape(f.key)}">{f.svg}<figcaption>{escape(f.title)}</figcaption></figure>'
                      for f in document.figures)
    tables = "".join(_table(t) for t in document.tables if t.in_print)
    elsewhere = [t.sheet for t in document.tables if not t.in_print]
    listed = (f'<p class="note">注：完整清单见同名 XLSX 的工作表：{escape("、".join(elsewhere))}。</p>' if elsewhere else "")
    return ("<!DOCTYPE html>\n"
            f'<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(document.title)}</title>'
            '<meta name="generator" content="envmon">'
            f'<meta name="author" content="envmon"><meta name="dcterms.created" content="{stamp}">'
            f'<meta name="dcterms.modified" content="{stamp}">'
            f'<meta name="envmon.fingerprint" content="{document.fingerprint}">'
            f"<style>{STYLE}</style></head><body>"
            f"<h1>{escape(document.title)}</h1><table class=\"header\"><tbody>{header}</tbody></table>"
            f'<div class="figures">{figures}</div>{tables}{listed}</body></html>\n')
