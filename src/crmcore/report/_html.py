"""The HTML page: stdlib templates (:class:`string.Template`), every text escaped.

One self-contained file: the style sheet is inline, charts are PNG data URIs,
no script, no web font, no link outside the page.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from string import Template

from crmcore.report._model import ReportChart, ReportSection, ReportTable

__all__ = ["render_page"]

_CSS = """
:root { --ink: #1f2933; --muted: #5f6b7a; --line: #d9dee5; --accent: #1d4e89; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
  Arial, sans-serif; color: var(--ink); background: #f4f6f8; }
header { background: var(--accent); color: #fff; padding: 24px 40px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; opacity: .9; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; max-width: 1180px; margin: 16px auto 0;
  padding: 0 24px; }
.kpi { text-decoration: none; color: inherit; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px;
  flex: 1 1 160px; }
.kpi b { display: block; font-size: 19px; white-space: nowrap; color: var(--accent); font-variant-numeric: tabular-nums; }
.kpi span { color: var(--muted); font-size: 13px; }
@media print { nav { display: none; } section { break-inside: avoid-page; }
  body { background: #fff; } }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: 10px 40px; }
nav a { color: var(--accent); margin-right: 18px; text-decoration: none; font-weight: 600; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 24px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  margin: 20px 0; padding: 20px 28px; }
section h2 { margin: 0 0 10px; font-size: 21px; color: var(--accent); }
.summary { font-size: 16px; margin: 0 0 14px; max-width: 900px; }
.summary p { margin: 0 0 6px; }
.missing { border-left: 4px solid var(--warn); }
.note { color: var(--warn); background: #fff8e6; border-radius: 4px; padding: 6px 10px;
  margin: 8px 0; }
.body { display: flex; flex-wrap: wrap; gap: 22px 32px; align-items: flex-start; }
figure { margin: 0; flex: 1 1 440px; max-width: 530px; min-width: 0; }
figure img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; }
.table { flex: 0 1 auto; min-width: 340px; max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; white-space: nowrap; }
td.long { white-space: normal; min-width: 240px; }
th { background: #eef2f6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.tnote { color: var(--muted); font-size: 12.5px; margin: 4px 0 0; }
footer { color: var(--muted); font-size: 12.5px; text-align: center; padding: 0 0 24px; }
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header><h1>$title</h1><p>$subtitle</p></header>
<nav>$nav</nav>
$kpis
<main>
$sections
</main>
<footer>$footer</footer>
</body>
</html>
""")

_SECTION = Template("""<section id="$id" class="$cls">
<h2>$title</h2>
<div class="summary">$sentences</div>
$notes<div class="body">$charts$tables</div>
</section>""")


def _table(t: ReportTable) -> str:
    numeric = t.numeric or (False,) * len(t.columns)

    def cls(i: int) -> str:
        return ' class="num"' if numeric[i] else ""

    head = "".join(f"<th{cls(i)}>{escape(c)}</th>" for i, c in enumerate(t.columns))

    def cell(i: int, v: str) -> str:
        kind = cls(i) or (' class="long"' if len(v) > 40 else "")
        return f"<td{kind}>{escape(v)}</td>"

    body = "".join(
        "<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in t.rows
    )
    note = f'<p class="tnote">{escape(t.note)}</p>' if t.note else ""
    return (
        f'<div class="table"><table><caption>{escape(t.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>"
    )


def _chart(c: ReportChart) -> str:
    data = base64.b64encode(c.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(c.alt)}">'
        f"<figcaption>{escape(c.caption or c.title)}</figcaption></figure>"
    )


def _section(s: ReportSection) -> str:
    charts = "".join(_chart(c) for c in s.charts)
    return _SECTION.substitute(
        id=escape(s.id),
        cls="" if s.available else "missing",
        title=escape(s.title),
        sentences="".join(f"<p>{escape(x)}</p>" for x in s.sentences),
        notes="".join(f'<p class="note">{escape(n)}</p>\n' for n in s.notes),
        charts=charts,
        tables="".join(_table(t) for t in s.tables),
    )


def render_page(title: str, subtitle: str, sections: Sequence[ReportSection], footer: str) -> str:
    """The whole page as one string."""
    nav = "".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in sections)
    cards = "".join(
        f'<a class="kpi" href="#{escape(s.id)}"><b>{escape(v)}</b><span>{escape(k)}</span></a>'
        for s in sections
        for k, v in s.highlights
    )
    kpis = f'<div class="kpis">{cards}</div>' if cards else ""
    return _PAGE.substitute(
        title=escape(title),
        subtitle=escape(subtitle),
        css=_CSS,
        nav=nav,
        kpis=kpis,
        sections="\n".join(_section(s) for s in sections),
        footer=escape(footer),
    )
