"""A Word file and an HTML page with planted facts under headings, in a list and in a table,
and the section each fact is in (its number and label)."""

from __future__ import annotations

from pathlib import Path

SECTIONS = {
    "FACT-0001": (1, "Service agreement"),
    "FACT-0002": (2, "1. Payment terms"),
    "FACT-0003": (2, "1. Payment terms"),
    "FACT-0004": (3, "2. Prices"),
    "FACT-0005": (4, "2.1 Support hours"),
}
"""Where each planted fact is: the same in the Word file and the HTML page."""

INTRO = "The agreement binds Acme and Beta. FACT-0001 the agreement starts on 1 March 2024."
PAYMENT = "Invoices are paid within 30 days. FACT-0002 the late fee is 2 percent per month."
LIST_ITEMS = ("Payments go to the account on file.", "FACT-0003 the deposit is 5,000 euros.")
TABLE = (("Service", "Price"), ("Support", "100 EUR"), ("FACT-0004 Hosting", "250 EUR"))
SUPPORT = "Support answers on working days. FACT-0005 the hotline opens at 8 in the morning."


def write_planted_docx(path: Path) -> Path:
    """A Word file (made with python-docx) holding the planted facts."""
    import docx

    document = docx.Document()
    document.add_heading("Service agreement", 0)
    document.add_paragraph(INTRO)
    document.add_heading("1. Payment terms", 1)
    document.add_paragraph(PAYMENT)
    for item in LIST_ITEMS:
        document.add_paragraph(item, style="List Bullet")
    document.add_heading("2. Prices", 1)
    table = document.add_table(rows=len(TABLE), cols=2)
    for row, cells in enumerate(TABLE):
        for column, text in enumerate(cells):
            table.cell(row, column).text = text
    document.add_heading("2.1 Support hours", 2)
    document.add_paragraph(SUPPORT)
    document.save(str(path))
    return path


def planted_html() -> str:
    """An HTML page holding the planted facts, with a head, a script and a style to drop."""
    rows = "".join(
        f"<tr><{cell}>{left}</{cell}><{cell}>{right}</{cell}></tr>"
        for (left, right), cell in zip(TABLE, ("th", "td", "td"))
    )
    items = "".join(f"<li>{item}</li>" for item in LIST_ITEMS)
    return (
        "<!DOCTYPE html>\n<html><head><title>Agreement page</title>"
        "<style>body { color: red }</style><script>var secret = 1;</script></head>\n<body>"
        f"<h1>Service agreement</h1><p>{INTRO}</p>"
        f"<h2>1. Payment terms</h2><p>{PAYMENT}</p><ul>{items}</ul>"
        f"<h2>2. Prices</h2><table>{rows}</table>"
        f"<h3>2.1 Support hours</h3><p>{SUPPORT}</p></body></html>\n"
    )


def write_planted_html(path: Path) -> Path:
    path.write_text(planted_html(), encoding="utf-8")
    return path
