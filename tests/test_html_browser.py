"""The HTML page in a real browser (headless Chromium): each citation shows its claim's quote,
on hover (its title) and on focus (its popover), links its page of the PDF beside the page, and
an unsupported claim is marked; a table of records shows its quotes and pages the same way.

The page has no JavaScript; the test adds a script to a copy of it that focuses each citation
and records what the browser then shows, read back from ``--dump-dom``. Without Chromium the
test is skipped, except in CI (``CI`` set), where ``.ci/run`` installs it and it must run.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from docanalyze.citations.verify import CheckedCitation
from docanalyze.models.base import Usage
from docanalyze.report.result import ChunkResult, Report
from tests.conftest import FIXTURES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip(
        "chromium is not installed (apt-get install chromium); CI installs it and runs this test",
        allow_module_level=True,
    )

REPORT_TEXT = """# Lease summary

- Rent is paid on the first day of each month (p. 2).
- The deposit equals two months of rent (p. 3).
- The tenant may sublet the flat freely (p. 4) ⚠ unsupported

Citations: 1 verified, 1 corrected to their true page, 1 unsupported (marked ⚠).
"""

CITATIONS = [
    CheckedCitation(
        "Rent is paid on the first day of each month.",
        (2,),
        "rent is due on the first day of each month",
        "verified",
        (2,),
    ),
    CheckedCitation(
        "The deposit equals two months of rent.",
        (3,),
        "a deposit of two months' rent",
        "corrected",
        (5,),
    ),
    CheckedCitation(
        "The tenant may sublet the flat freely.", (), "subletting is free", "unsupported", (4,)
    ),
]

PROBE = """<script>
const shown = [...document.querySelectorAll(".cite")].map((cite) => {
  const quote = cite.querySelector(".quote");
  const link = cite.querySelector("a");
  const before = getComputedStyle(quote).display;
  cite.focus();
  const after = getComputedStyle(quote).display;
  const mark = cite.parentElement.querySelector("mark.unsupported");
  return {
    status: cite.dataset.status, label: link.textContent, title: link.title,
    href: link.getAttribute("href"), resolved: link.href, before, after,
    popover: quote.innerText, mark: mark ? mark.textContent : null,
  };
});
document.body.dataset.shown = JSON.stringify(shown);
</script>
"""


def lease_report(source: Path) -> Report:
    return Report(
        source=str(source),
        text=REPORT_TEXT,
        backend="anthropic",
        model="claude-sonnet-5-5",
        page_count=5,
        chunks=[ChunkResult(0, 1, 5, "- Rent is due monthly (p. 2).", "claude-sonnet-5-5")],
        usage=Usage(requests=3),
        reduce_levels=0,
        citations=CITATIONS,
    )


def shown_in_chromium(page: Path, profile: Path) -> list[dict[str, Any]]:
    """What Chromium shows of each citation of ``page`` (the :data:`PROBE`'s record)."""
    assert CHROMIUM is not None, "CI must install chromium (.ci/run does)"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    marker = 'data-shown="'
    start = result.stdout.index(marker) + len(marker)
    value = result.stdout[start : result.stdout.index('"', start)]
    return json.loads(html.unescape(value))  # type: ignore[no-any-return]


@pytest.mark.timeout(120)
def test_chromium_shows_each_quote_links_each_page_and_marks_the_unsupported_claim(
    tmp_path: Path,
) -> None:
    pdf = tmp_path / "sample-en.pdf"
    shutil.copyfile(FIXTURES / "sample-en.pdf", pdf)
    page = tmp_path / "report.html"
    text = lease_report(pdf).to_html(output=page)
    page.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")

    shown = shown_in_chromium(page, tmp_path / "profile")

    assert [cite["status"] for cite in shown] == ["verified", "corrected", "unsupported"]
    assert [cite["label"] for cite in shown] == ["p. 2", "p. 3", "p. 4"]
    assert [cite["href"] for cite in shown] == [f"sample-en.pdf#page={n}" for n in (2, 3, 4)]
    assert all(cite["resolved"] == f"{pdf.as_uri()}#page={n}" for cite, n in zip(shown, (2, 3, 4)))
    for cite, citation in zip(shown, CITATIONS):
        assert citation.quote is not None
        assert f"“{citation.quote}”" in cite["title"]  # on hover
        assert (cite["before"], cite["after"]) == ("none", "block")  # on focus (a click)
        assert citation.quote in cite["popover"]
    assert "Corrected: cited p. 5; the quote is on p. 3." in shown[1]["popover"]
    assert "Unsupported" in shown[2]["popover"]
    assert [cite["mark"] for cite in shown] == [None, None, "⚠ unsupported"]


@pytest.mark.timeout(120)
def test_chromium_shows_each_records_quote_and_links_its_page(tmp_path: Path) -> None:
    from docanalyze.report.formats import table_format
    from tests.test_record_formats import RECORDS, one_table

    pdf = tmp_path / "sample-en.pdf"
    shutil.copyfile(FIXTURES / "sample-en.pdf", pdf)
    page = tmp_path / "records.html"
    text = table_format("html").render_table_to(one_table(str(pdf)), page)
    page.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")

    shown = shown_in_chromium(page, tmp_path / "profile")

    assert [cite["status"] for cite in shown] == ["verified", "corrected", "unsupported"]
    assert [cite["href"] for cite in shown] == [f"sample-en.pdf#page={n}" for n in (3, 5, 7)]
    for cite, record in zip(shown, RECORDS):
        assert f"“{record.quote}”" in cite["title"]  # on hover
        assert (cite["before"], cite["after"]) == ("none", "block")  # on focus (a click)
        assert record.quote in cite["popover"]
