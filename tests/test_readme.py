"""README.md runs as written: its suites validate, its command lines parse, its links resolve. Offline, no model.

Conventions the README follows (and this test enforces):
- A ```yaml block with a top-level `name:` is a whole suite, validated as it is (`leafbench.config.load_suite`). Any
  other ```yaml block is a fragment of the README's first whole suite: its top-level keys replace that suite's, and
  the result is validated. Local model folders a suite names (`./models/...`) are the reader's own; validation only
  checks that they exist, so the test creates empty stand-ins in a temporary working directory.
- In ```bash / ```sh / ```console blocks, a line starting with `leafbench ` is parsed by the CLI's own parser
  (`leafbench.cli.build_parser`), and every suite file it names must exist in the repository and validate; `make X`
  must name a Makefile target; a script run with `python` must exist.
- Every relative link of README.md and docs/*.md points at a file that exists (and at a heading, for `#anchors`),
  every docs page is linked from the README, and the README stays within 250 lines (issue #19).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from leafbench.cli import build_parser
from leafbench.config import load_suite, looks_like_path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 250
SHELL = {"bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.M | re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def code_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, body, line number of the opening fence) of every fenced block."""
    return [(m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 1) for m in _FENCE.finditer(text)]


def suite_blocks(text: str) -> list[tuple[int, dict[str, Any], bool]]:
    """(line, parsed YAML, is a whole suite) of every ```yaml block."""
    out = []
    for lang, body, line in code_blocks(text):
        if lang in ("yaml", "yml"):
            data = yaml.safe_load(body)
            assert isinstance(data, dict), f"README.md:{line}: a yaml block that is not a mapping"
            out.append((line, data, "name" in data))
    return out


def command_lines(text: str) -> list[tuple[int, str]]:
    """(line, command) of every shell line in a shell block, a console prompt's `$ ` stripped."""
    out = []
    for lang, body, line in code_blocks(text):
        if lang in SHELL:
            for i, raw in enumerate(body.splitlines(), start=line + 1):
                cmd = raw.strip().removeprefix("$ ")
                if cmd and not cmd.startswith("#"):
                    out.append((i, cmd))
    return out


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M)}


def validate_suite(data: dict[str, Any], where: Path, label: str) -> None:
    """Validate a suite mapping from a file in `where`, creating the local model folders it names."""
    for spec in (data.get("models") or {}).values():
        if isinstance(spec, dict) and looks_like_path(str(spec.get("id", ""))):
            (where / Path(spec["id"]).expanduser()).mkdir(parents=True, exist_ok=True)
    path = where / f"{label}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_suite(path)


def check_command(cmd: str) -> None:
    """One README command line as the shell would run it; raises AssertionError naming what is wrong."""
    argv = shlex.split(cmd, comments=True)
    if not argv:
        return
    if argv[0] == "leafbench":
        try:
            args = build_parser().parse_args(argv[1:])
        except SystemExit as e:  # argparse's exit on a bad flag or a missing argument
            raise AssertionError(f"`{cmd}`: the leafbench parser rejects it (exit {e.code})") from None
        suites = {a for a in argv[1:] if a.endswith((".yaml", ".yml"))}
        if getattr(args, "suite", None):
            suites.add(args.suite)
        for suite in sorted(suites):
            assert (ROOT / suite).is_file(), f"`{cmd}`: no suite file {suite} in the repository"
            load_suite(ROOT / suite)
    elif argv[0] == "make":
        targets = [a for a in argv[1:] if not a.startswith("-") and "=" not in a]
        missing = sorted(set(targets) - make_targets())
        assert targets and not missing, f"`{cmd}`: no Makefile target {', '.join(missing) or '(none given)'}"
    elif Path(argv[0]).name.startswith("python") and len(argv) > 1 and not argv[1].startswith("-"):
        assert (ROOT / argv[1]).is_file(), f"`{cmd}`: no script {argv[1]} in the repository"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    text = _FENCE.sub("", md.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+?) *#*$", text, re.M)}


def broken_links(md: Path) -> list[str]:
    text = _FENCE.sub("", md.read_text(encoding="utf-8"))
    bad = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (md.parent / file).resolve() if file else md
        if not dest.exists():
            bad.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target} (no such heading)")
    return bad


TEXT = README.read_text(encoding="utf-8")
SUITES = suite_blocks(TEXT)
COMMANDS = command_lines(TEXT)


def test_readme_is_short() -> None:
    n = len(TEXT.splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; measurement notes belong in docs/ (issue #19)"


def test_readme_shows_a_whole_suite_first() -> None:
    assert SUITES and SUITES[0][2], "the README's first yaml block must be a whole suite (fragments extend it)"


@pytest.mark.parametrize("line,data,whole", SUITES, ids=[f"line{s[0]}" for s in SUITES])
def test_yaml_block_validates(line: int, data: dict[str, Any], whole: bool, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the suite's relative local folders resolve (and are created) here
    suite = data if whole else {**SUITES[0][1], **data}
    validate_suite(suite, tmp_path, f"readme-line{line}")


@pytest.mark.parametrize("line,cmd", COMMANDS, ids=[f"line{c[0]}" for c in COMMANDS])
def test_command_line_runs_as_written(line: int, cmd: str) -> None:
    check_command(cmd)


def test_readme_has_the_commands_ci_and_a_newcomer_use() -> None:
    cmds = [c.split("#")[0].strip() for _, c in COMMANDS]
    assert "make run" in cmds and "make test" in cmds


@pytest.mark.parametrize("md", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_links_resolve(md: Path) -> None:
    assert not broken_links(md), f"{md.relative_to(ROOT)}: broken links {broken_links(md)}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in _LINK.findall(TEXT) if not re.match(r"[a-z]+:", t)}
    unlinked = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


@pytest.mark.parametrize("cmd", [
    "leafbench run suites/quickstart.yaml --no-such-flag",   # a flag the parser does not know
    "leafbench valdate suites/quickstart.yaml",              # a misspelt command
    "leafbench run suites/no-such-suite.yaml",               # a suite file that is not there
    "make no-such-target",
    ".venv/bin/python benchmarks/no_such_script.py",
])
def test_the_checks_catch_a_wrong_line(cmd: str) -> None:
    with pytest.raises(AssertionError):
        check_command(cmd)


def test_the_checks_catch_a_wrong_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leafbench.errors import UserError

    monkeypatch.chdir(tmp_path)
    bad = {**SUITES[0][1], "precisions": ["float16"]}
    with pytest.raises(UserError):
        validate_suite(bad, tmp_path, "bad")
