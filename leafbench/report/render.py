"""One table model, five renderings (Markdown, LaTeX booktabs, CSV, rich, HTML), so every format shows the same
numbers, gaps and significance markers. Builders in `tables.py` fill it; nothing here knows about results.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field

from rich import box
from rich.markup import escape as rich_escape
from rich.table import Table as RichTable

GAP = "–"  # a missing cell: shown, never silently dropped
_SUPERSCRIPT = dict(zip("abcdefghijklmnopqrstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖqʳˢᵗᵘᵛʷˣʸᶻ"))
_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}  # OT1 text mode prints a bare < as an inverted !


@dataclass
class Cell:
    """A value (number, text or None for a gap) with an optional relative % in parentheses, an optional interval in
    brackets, ranx-style letters of the systems it beats significantly, and bold for the best in its column."""

    value: float | int | str | None = None
    digits: int = 4
    rel: float | None = None
    sup: str = ""
    bold: bool = False
    interval: tuple[float, float] | None = None  # (low, high), in the value's units and digits

    def text(self) -> str:
        if self.value is None:
            return GAP
        if isinstance(self.value, float):
            base = f"{self.value:.{self.digits}f}"
        elif isinstance(self.value, int):
            base = f"{self.value:,}"
        else:
            base = self.value
        rel = f" ({self.rel:.1f})" if self.rel is not None else ""
        span = f" [{self.interval[0]:.{self.digits}f}, {self.interval[1]:.{self.digits}f}]" if self.interval else ""
        return base + rel + span


@dataclass
class Table:
    """A titled grid of cells; `sections` are row indices that start a new group (a rule in LaTeX and rich)."""

    name: str
    title: str
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    sections: set[int] = field(default_factory=set)
    numeric_from: int = 1  # columns before this index are labels (left-aligned)
    terminal_skip: set[str] = field(default_factory=set)  # columns too wide for a terminal (files keep them)

    def to_markdown(self) -> str:
        def fmt(c: Cell) -> str:
            s = c.text().replace("|", r"\|")
            s = f"**{s}**" if c.bold and c.value is not None else s
            return s + (f"<sup>{c.sup}</sup>" if c.sup else "")

        align = ["---" if i < self.numeric_from else "---:" for i in range(len(self.columns))]
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines + ["", self.caption, ""])

    def to_latex(self) -> str:
        def esc(s: str) -> str:
            return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s).replace(GAP, "--")

        def fmt(c: Cell) -> str:
            s = esc(c.text())
            s = rf"\textbf{{{s}}}" if c.bold and c.value is not None else s
            return s + (rf"\textsuperscript{{{c.sup}}}" if c.sup else "")

        spec = "l" * self.numeric_from + "r" * (len(self.columns) - self.numeric_from)
        env = "table*" if len(self.columns) > 9 else "table"  # wide tables span both columns of a paper
        lines = [rf"\begin{{{env}}}[t]", r"\centering", r"\small",
                 rf"\caption{{{esc(self.title)}. {esc(self.caption)}}}", rf"\label{{tab:{self.name}}}",
                 rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
                 " & ".join(esc(c) for c in self.columns) + r" \\", r"\midrule"]
        for i, row in enumerate(self.rows):
            if i in self.sections and i > 0:
                lines.append(r"\midrule")
            lines.append(" & ".join(fmt(c) for c in row) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", rf"\end{{{env}}}", ""]
        return "\n".join(lines)

    def to_csv(self) -> str:
        """Raw numbers for other tools: a relative % and an interval's ends get columns of their own, markers are
        left to significance.csv."""
        with_rel = [any(r[i].rel is not None for r in self.rows) for i in range(len(self.columns))]
        with_span = [any(r[i].interval is not None for r in self.rows) for i in range(len(self.columns))]
        header: list[str] = []
        for col, rel, span in zip(self.columns, with_rel, with_span):
            header += [col] + ([f"{col} (%)"] if rel else []) + ([f"{col} (low)", f"{col} (high)"] if span else [])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            out: list[object] = []
            for cell, rel, span in zip(row, with_rel, with_span):
                out.append("" if cell.value is None else round(cell.value, 6) if isinstance(cell.value, float)
                           else cell.value)
                if rel:
                    out.append("" if cell.rel is None else round(cell.rel, 3))
                if span:
                    out += ["", ""] if cell.interval is None else [round(v, 3) for v in cell.interval]
            writer.writerow(out)
        return buf.getvalue()

    def to_rich(self) -> RichTable:
        """Cells keep their full width (numbers never truncate); long headers wrap when the terminal is narrow."""
        keep = [i for i, col in enumerate(self.columns) if col not in self.terminal_skip]
        table = RichTable(title=self.title, caption=self.caption, caption_justify="left", box=box.SIMPLE_HEAD,
                          pad_edge=False, padding=(0, 0), collapse_padding=True)
        for i in keep:
            table.add_column(rich_escape(self.columns[i]), justify="left" if i < self.numeric_from else "right",
                             style="bold" if i == 0 else None,
                             min_width=max((len(r[i].text()) + len(r[i].sup) for r in self.rows), default=1))
        for i, row in enumerate(self.rows):
            if i in self.sections and i > 0:
                table.add_section()
            texts = []
            for c in (row[j] for j in keep):
                s = rich_escape(c.text()) + "".join(_SUPERSCRIPT.get(ch, ch) for ch in c.sup)
                texts.append(f"[bold green]{s}[/]" if c.bold and c.value is not None else s)
            table.add_row(*texts)
        return table

    def to_html(self) -> str:
        def fmt(c: Cell) -> str:
            s = html.escape(c.text())
            s = f"<b>{s}</b>" if c.bold and c.value is not None else s
            return s + (f"<sup>{html.escape(c.sup)}</sup>" if c.sup else "")

        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = []
        for i, row in enumerate(self.rows):
            cls = ' class="section"' if i in self.sections and i > 0 else ""
            tds = "".join(f'<td class="{"l" if j < self.numeric_from else "r"}">{fmt(c)}</td>'
                          for j, c in enumerate(row))
            body.append(f"<tr{cls}>{tds}</tr>")
        return (f'<table id="{html.escape(self.name)}"><caption><b>{html.escape(self.title)}</b>. '
                f"{html.escape(self.caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                "</tbody></table>")
