"""What a broken BEIR folder gives: one line naming the file and line (strict), or a counted warning (lenient).

BEIR's own loader reads a folder into dicts without a word: a second line with the same corpus or query `_id`
silently replaces the first, a repeated qrels pair keeps its last score, the first qrels line is dropped as a header
whatever it holds, and a corpus line without `text` becomes a document of no text. Each of these changes a score,
so the loader (leafbench.datasets.beir) reports every occurrence here while reading; `resolve` then either raises
the first one (strict) or logs one line per kind with its count and keeps BEIR's reading (lenient), so a lenient
score is still exactly BEIR's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from leafbench.errors import UserError
from leafbench.progress import stderr

# kind -> what the lenient reading does with it (BEIR's own behaviour)
LENIENT = {
    "duplicate corpus _id": "kept the last line, as BEIR does",
    "duplicate query _id": "kept the last line, as BEIR does",
    "qrels pair repeated with another score": "kept the last score, as BEIR does",
    "first qrels line is a judgment with a non-integer score": "skipped it as BEIR skips its header",
    "line without a \"text\" field": "read as empty text",
}


@dataclass(frozen=True)
class Issue:
    kind: str
    file: Path
    line: int
    detail: str


@dataclass
class FolderIssues:
    """The format problems found while reading one folder, in reading order."""

    found: list[Issue] = field(default_factory=list)

    def add(self, kind: str, file: Path, line: int, detail: str) -> None:
        self.found.append(Issue(kind, file, line, detail))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for issue in self.found:
            out[issue.kind] = out.get(issue.kind, 0) + 1
        return out

    def resolve(self, strict: bool) -> dict[str, int]:
        """Raise the first issue as a UserError (strict), else warn once per kind; returns the counts for `meta`."""
        counts = self.counts()
        if not self.found:
            return counts
        if strict:
            first = self.found[0]
            raise UserError(f"{first.file}:{first.line}: {first.kind}: {first.detail} ({counts[first.kind]} such "
                            f"line(s)); fix the folder, or set 'strict: false' on the task to read it as BEIR does "
                            f"({LENIENT[first.kind]})")
        for kind, n in counts.items():
            first = next(i for i in self.found if i.kind == kind)
            stderr.print(f"warning: {first.file}: {kind}: {n} line(s), first at line {first.line} "
                         f"({first.detail}); {LENIENT[kind]} (strict: false)", markup=False, highlight=False)
        return counts
