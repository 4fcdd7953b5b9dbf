"""A single self-contained HTML page: every table and every figure (PNG embedded as base64), no external CSS, fonts
or scripts, so it opens offline, attaches to an email, and survives being copied off the machine that made it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from leafbench import __version__
from leafbench.resultset import ResultSet
from leafbench.report.deploy import DEPLOY_FIGURES, DEPLOY_TABLE_PREFIX
from leafbench.report.style import Figure
from leafbench.report.render import Table
from leafbench.results import now

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}caption{caption-side:bottom;text-align:left;
color:#555;padding-top:.4em;max-width:1000px}
th,td{padding:.25em .6em;border-bottom:1px solid #eee;white-space:nowrap}th{border-bottom:2px solid #444}
td.r{text-align:right;font-variant-numeric:tabular-nums}tr.section td{border-top:1.5px solid #888}
figure{display:inline-block;margin:1em 1.5em 1em 0;vertical-align:top;max-width:520px}
figure img{width:100%}figcaption{font-size:.85em;color:#555}.meta{color:#555;font-size:.9em}
details{margin:1em 0}summary{cursor:pointer;font-weight:600}
.scroll{overflow-x:auto;max-width:100%;margin:1em 0}.scroll table{margin:0}
"""


def _figure(fig: Figure) -> str:
    data = base64.b64encode(fig.png.read_bytes()).decode("ascii")
    return (f'<figure id="{html.escape(fig.name)}"><img alt="{html.escape(fig.caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(fig.caption)} '
            f"(PDF: figures/{html.escape(fig.pdf.name)})</figcaption></figure>")


def _table(t: Table) -> str:
    """A table in its own horizontally scrolling box: a wide one (throughput, deploy) scrolls inside the page at
    laptop width instead of running off its right edge."""
    return f'<div class="scroll">{t.to_html()}</div>'


def render_html(rs: ResultSet, tables: Sequence[Table], figures: Sequence[Figure], title: str) -> str:
    """The page as a string; long tables (significance) fold into a <details> block."""
    meta = [f"Sources: {', '.join(html.escape(str(s)) for s in rs.sources)}",
            f"Suites: {', '.join(html.escape(s) for s in rs.suites)}; {len(rs.tasks)} task(s), "
            f"{len(rs.configs)} config(s), {len(rs.cells)} cell(s)",
            f"Teacher: {html.escape(rs.teacher or '-')} ({html.escape(rs.teacher_reason)})",
            f"Generated {now()} by leafbench {__version__}"]
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             "".join(f'<p class="meta">{m}</p>' for m in meta)]
    if rs.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in rs.notes) + "</ul>")
    deploy_tables = [t for t in tables if t.name.startswith(DEPLOY_TABLE_PREFIX)]
    deploy_figures = [f for f in figures if f.name in DEPLOY_FIGURES]
    main = [t for t in tables if t.name != "significance" and t not in deploy_tables]
    parts.append("<h2>Tables</h2>" + "".join(_table(t) for t in main))
    other = [f for f in figures if f not in deploy_figures]
    if other:
        parts.append("<h2>Figures</h2>" + "".join(_figure(f) for f in other))
    if deploy_tables or deploy_figures:  # which configuration to ship: its own section (leafbench.report.deploy)
        parts.append("<h2>Deploy</h2>" + "".join(_figure(f) for f in deploy_figures) +
                     "".join(_table(t) for t in deploy_tables))
    for t in tables:
        if t.name == "significance":
            parts.append(f"<h2>Significance</h2><details><summary>{len(t.rows)} paired tests</summary>"
                         f"{_table(t)}</details>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
