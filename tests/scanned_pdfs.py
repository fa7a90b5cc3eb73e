"""PDFs made of page images of text (scans), with planted facts on known pages, for OCR tests.

:func:`write_scanned_pdf` sets the text with reportlab, renders each page with PDFium at
``dpi`` and writes the images as an image-only PDF (Pillow): no text layer at all.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from tests.planted_pdfs import ENGLISH_FILLER, english_fact

__all__ = ["CJK_FONT", "text_pdf", "write_scanned_chinese_pdf", "write_scanned_pdf"]

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
"""A Chinese font from Debian's fonts-wqy-microhei (CI installs it), to render Chinese pages."""

_LINES_PER_PAGE = 40
_COLUMNS = 80


def text_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with a text layer, one page per list of lines (Helvetica 11)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for lines in pages:
        y = A4[1] - 72
        for line in lines:
            pdf.setFont("Helvetica", 11)
            pdf.drawString(60, y, line)
            y -= 17
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def write_scanned_pdf(
    path: Path, *, pages: int = 3, facts_per_page: int = 2, dpi: int = 150
) -> dict[str, int]:
    """An image-only PDF of ``pages`` pages of English prose, ``facts_per_page`` planted facts
    on each (``FACT-nnnn``, as :mod:`tests.planted_pdfs`'s); returns each fact's page."""
    facts: dict[str, int] = {}
    texts: list[list[str]] = []
    number = 0
    for page in range(1, pages + 1):
        prose = ""
        for sentence in range(12):
            prose += ENGLISH_FILLER[(sentence + page) % len(ENGLISH_FILLER)]  # pages differ
            if sentence % (12 // facts_per_page) == 3 and len(facts) < page * facts_per_page:
                number += 1
                prose += english_fact(number, page)
                facts[f"FACT-{number:04d}"] = page
        texts.append(textwrap.wrap(prose, _COLUMNS)[:_LINES_PER_PAGE])
    images = _rendered(text_pdf(texts), dpi)
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return facts


_CHINESE_FILLER = (
    "检查人员记录了每个站点的状况，并与往年的数据进行了比较。",
    "维修队在读数显示缓慢泄漏的地方更换了磨损的密封件。",
    "区域办公室把今年的数字同过去三年的数字作了对比。",
    "员工培训贯穿整个冬季，每个仓库每月举办两次课程。",
    "偏远地区的志愿者通过邮件寄来了水尺的照片。",
)


def write_scanned_chinese_pdf(path: Path, *, pages: int = 2, dpi: int = 200) -> dict[str, int]:
    """An image-only PDF of ``pages`` pages of Chinese prose with two planted facts a page
    (``FACT-nnnn`` in a Chinese sentence), rendered with :data:`CJK_FONT`; returns each fact's
    page."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("WQY", str(CJK_FONT), subfontIndex=0))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    facts: dict[str, int] = {}
    for page in range(1, pages + 1):
        y = A4[1] - 72
        for line in range(12):
            if line in (3, 8):
                number = len(facts) + 1
                facts[f"FACT-{number:04d}"] = page
                text = f"事实编号FACT-{number:04d}：第{number}号泵站于五月通过了测试。"
            else:  # lines that differ, as on a real page
                text = _CHINESE_FILLER[(line + page) % len(_CHINESE_FILLER)]
            pdf.setFont("WQY", 14)
            pdf.drawString(60, y, text)
            y -= 26
        pdf.showPage()
    pdf.save()
    images = _rendered(buffer.getvalue(), dpi)
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return facts


def _rendered(data: bytes, dpi: int) -> list[Image.Image]:
    document = pdfium.PdfDocument(data)
    try:
        return [
            document[i].render(scale=dpi / 72).to_pil().convert("L") for i in range(len(document))
        ]
    finally:
        document.close()
