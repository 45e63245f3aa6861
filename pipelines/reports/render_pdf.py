"""A document as PDF: its HTML page printed by WeasyPrint (pinned in pyproject.toml), A4 landscape,
Chinese text in a CJK font of the system (Debian: fonts-noto-cjk or fonts-wqy-microhei), fonts
embedded. The PDF's dates are the document's stamp, so the same document gives the same bytes."""
from __future__ import annotations

import shutil
import subprocess
from functools import cache

from pipelines.reports import render_html
from pipelines.reports.document import Document


class MissingFont(RuntimeError):
    """No CJK font: WeasyPrint would print every Chinese character as an empty box."""


@cache
def cjk_fonts() -> tuple[str, ...]:
    """The font families fontconfig offers for Chinese (what WeasyPrint will find)."""
    if shutil.which("fc-list") is None:
        return ()
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return tuple(sorted({line.split(",")[0].strip() for line in listed.splitlines() if line.strip()}))


def render(document: Document) -> bytes:
    if not cjk_fonts():
        raise MissingFont("no CJK font is installed for the PDF: install one (Debian: apt-get install "
                          "fonts-noto-cjk, or fonts-wqy-microhei) and run again")
    import weasyprint

    return weasyprint.HTML(string=render_html.render(document)).write_pdf()
