"""The gate check of the HTML report: it parses, holds every section, its images are PNG data
URIs, it references nothing outside itself and escapes what the data holds.

One small synthetic base (crmcore.report.add_example_data, 120 customers, 20 deals) with a
customer whose id is markup, built once for the module; the tests read that one report.
"""

from __future__ import annotations

import base64
import re
import struct
import sys
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.model import Customer
from crmcore.report import (
    PLOT_NOTE,
    SECTION_IDS,
    Report,
    ReportSection,
    ReportTable,
    add_example_data,
    build_report,
)
from crmcore.repositories import MemoryUnitOfWork
from crmcore.tables import TransactionLog

EVIL = "<script>alert('x')</script>&amp;"
VOID = {"meta", "img", "br", "hr", "input", "link", "col", "area", "base", "source", "wbr"}


class Page(HTMLParser):
    """Tags must nest; collects section ids, headings, images, links and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.sections: list[str] = []
        self.headings: list[str] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "h2":
            self._in_h2 = True
            self.headings.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_h2:
            self.headings[-1] += data


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    p.close()
    return p


def png_ok(data: bytes) -> bool:
    """A valid PNG: signature, IHDR with a size, every chunk's CRC right, IEND last."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            return False
        kinds.append(kind)
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
            if not (w and h):
                return False
        pos += 12 + length
    return kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds


def example(customers: int = 120, deals: int = 20) -> MemoryUnitOfWork:
    uow = MemoryUnitOfWork()
    add_example_data(uow, customers=customers, deals=deals, seed=11)
    days = np.datetime64("2024-02-01", "D") + np.arange(0, 700, 20)
    log = TransactionLog.from_arrays(  # the best customer of the base: in the top-10 table
        customer_ids=[EVIL] * len(days),
        timestamps=days,
        amounts=[900.0] * len(days),
        currency="USD",
        ids=[f"evil-{i}" for i in range(len(days))],
    )
    with uow:
        uow.customers.add(Customer(id=EVIL, name=EVIL))
        uow.transactions.add_log(log)
        uow.commit()
    return uow


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report(example(), title="Example <b>base</b>")


def test_every_section_is_there_with_its_heading(report: Report) -> None:
    page = parse(report.html)
    assert page.sections == list(SECTION_IDS)
    assert page.headings == [s.title for s in report.sections]
    assert all(s.available for s in report.sections)  # the example has data for each
    for s in report.sections:
        assert len(s.sentences) >= 2 and s.tables, s.id
        assert all(t.rows for t in s.tables), s.id
        assert s.highlights, s.id  # the key figures at the top of the page
    text = "".join(page.text)
    assert all(f"{v}{k}" in text for s in report.sections for k, v in s.highlights)


def test_the_page_parses_and_nests(report: Report) -> None:
    page = parse(report.html)
    assert page.problems == []
    assert page.stack == []
    assert report.html.startswith("<!DOCTYPE html>")


def test_images_are_inline_pngs(report: Report) -> None:
    page = parse(report.html)
    assert len(page.images) == sum(len(s.charts) for s in report.sections) >= 6
    for src in page.images:
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64"
        assert png_ok(base64.b64decode(data, validate=True))


def test_nothing_outside_the_page(report: Report) -> None:
    assert not re.search(r"https?://", report.html)
    assert not re.search(r"(src|href)\s*=\s*[\"'](?!data:|#)", report.html)
    page = parse(report.html)
    assert "script" not in page.tags and "link" not in page.tags
    assert "@import" not in report.html and "url(" not in report.html


def test_data_is_escaped(report: Report) -> None:
    page = parse(report.html)
    text = "".join(page.text)
    assert EVIL in text  # shown as text, in the top customers and the alerts
    assert "<script>" not in report.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;amp;" in report.html
    assert "Example <b>base</b>" in text and "<b>base</b>" not in report.html


def test_sentences_are_computed_from_the_data(report: Report) -> None:
    base = report.section("base")
    assert f"{121:,} customers made" in base.sentences[0]  # 120 + the markup one
    with pytest.raises(KeyError, match="no section 'nope'"):
        report.section("nope")


def test_write(report: Report, tmp_path: object) -> None:
    from pathlib import Path

    path = report.write(Path(str(tmp_path)) / "r.html")
    assert path.read_text(encoding="utf-8") == report.html


def test_without_matplotlib_every_section_renders_its_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = build_report(example(customers=60, deals=6))
    page = parse(r.html)
    assert page.sections == list(SECTION_IDS) and page.problems == []
    assert page.images == []
    for s in r.sections:
        assert s.tables and not s.charts, s.id
        assert PLOT_NOTE in s.notes, s.id
    assert "install crmcore[plot] for the charts" in "".join(page.text)


@settings(max_examples=25)
@given(
    st.lists(st.text(min_size=1, max_size=30).filter(lambda t: t.strip()), min_size=1, max_size=4)
)
def test_any_text_round_trips_through_the_page(cells: list[str]) -> None:
    from crmcore.report._html import render_page

    section = ReportSection(
        id="s",
        title=cells[0],
        sentences=cells,
        tables=[ReportTable(caption="t", columns=cells, rows=[cells])],
    )
    page = parse(render_page(cells[0], "sub", [section], "foot"))
    assert page.problems == []
    assert page.headings == [cells[0]]
    text = "".join(page.text)
    assert all(c.replace("\r", "\n") in text.replace("\r", "\n") for c in cells)


def test_progress_events_and_bad_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from crmcore.errors import ArgumentTypeError, ValidationError
    from crmcore.progress import ProgressEvent

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    events: list[ProgressEvent] = []
    uow = MemoryUnitOfWork()  # nothing stored: every section says so
    r = build_report(uow, progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("report", i, len(SECTION_IDS) + 1) for i in range(len(SECTION_IDS) + 2)
    ]
    assert [s.id for s in r.sections] == list(SECTION_IDS)
    assert not any(s.available for s in r.sections)
    assert parse(r.html).problems == []
    with pytest.raises(ArgumentTypeError, match="'progress' must be a function"):
        build_report(uow, progress=3)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="'source' must be a database URL"):
        build_report(42)
    with pytest.raises(ValidationError, match="does not exist"):
        build_report("sqlite:////nonexistent/dir/crm.db")
    with pytest.raises(ValidationError, match="'title' must be a non-empty text"):
        build_report(uow, title=" ")


def test_when_as_of_is_given_later_rows_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # no charts: faster, not under test
    uow = example(customers=60, deals=6)
    r = build_report(uow, as_of=datetime(2025, 6, 30, 12, tzinfo=UTC))
    assert r.as_of == "2025-06-30"
    quality = r.section("base").tables[1]
    later = {row[0]: row[1] for row in quality.rows}[
        "transactions dated after 2025-06-30 (left out)"
    ]
    assert int(later.replace(",", "")) > 0
