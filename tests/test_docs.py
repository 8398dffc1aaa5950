"""The docs a newcomer reads: no ticket history, a short README, links and paths that resolve."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCANNED_DIRS = ("hlynr", "docs", "configs", "benchmarks")
SCANNED_FILES = ("README.md", "CONTRIBUTING.md")
SUFFIXES = {".md", ".py", ".yaml", ".yml"}
README_LIMIT = 10_240

HISTORY = [
    ("ticket number", re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE)),
    ("date", re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b")),
    ("UTC time", re.compile(r"\bUTC\b")),
]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
REPO_PATH = re.compile(r"\b((?:configs|benchmarks)/[\w./-]+\.(?:yaml|py))\b")


def scanned_files() -> list[Path]:
    """Tracked text files under the scanned folders, plus the top-level docs."""
    try:
        out = subprocess.run(["git", "ls-files", *SCANNED_DIRS, *SCANNED_FILES], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
        paths = [REPO / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file there
        paths = [p for d in SCANNED_DIRS for p in (REPO / d).rglob("*")]
        paths += [REPO / f for f in SCANNED_FILES]
    return sorted(p for p in paths if p.suffix in SUFFIXES and p.is_file())


def doc_pages() -> list[Path]:
    """README.md, CONTRIBUTING.md and every page under docs/ (docs/results/*.md too)."""
    return [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").rglob("*.md"))]


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


def history_mentions(text: str) -> list[str]:
    """``"line N: kind 'match'"`` for every ticket number, date or UTC time in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in HISTORY:
            found += [f"line {number}: {kind} {m.group(0)!r}" for m in pattern.finditer(line)]
    return found


def prose(markdown: str) -> str:
    """Markdown without fenced code blocks and inline code spans."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor the headings of a page define (repeated headings get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file, or whose anchor in that file, does not exist."""
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            shown = dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest
            broken.append(f"{target}: no file {shown}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(
                dest.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    return broken


def test_detectors_catch_what_they_are_for() -> None:
    """The history patterns and the link checker flag real cases and leave ordinary text alone."""
    assert len(history_mentions("fixed in issue 4\nIssue #12, measured 2026-11-22 01:30 UTC")) == 4
    assert history_mentions("an issue with 4 envs; seed 10000-10199; 2-3 evaluations; 1e-5") == []
    assert (slug("Speed (`python benchmarks/bench_intercept.py`)")
            == "speed-python-benchmarksbench_interceptpy")
    assert anchors("# A b\n## A b\n```\n# not a heading\n```\n") == {"a-b", "a-b-1"}
    assert prose("[x](gone.md) `[y](gone.md)`\n```\n[z](gone.md)\n```\n").count("gone.md") == 1


def test_no_ticket_numbers_or_dates_in_code_and_docs() -> None:
    """Code, configs and docs describe the software, not its history."""
    files = scanned_files()
    assert REPO / "README.md" in files and any(p.suffix == ".py" for p in files)
    offences = [f"{p.relative_to(REPO)} {m}" for p in files
                for m in history_mentions(p.read_text(encoding="utf-8"))]
    assert offences == [], "history in code or docs:\n" + "\n".join(offences)


def test_readme_is_short() -> None:
    size = (REPO / "README.md").stat().st_size
    assert size < README_LIMIT, f"README.md is {size} bytes; keep it under {README_LIMIT}"


@pytest.mark.parametrize("page", doc_pages(), ids=page_id)
def test_relative_links_resolve(page: Path) -> None:
    assert page.exists(), f"{page.relative_to(REPO)} is missing"
    broken = broken_links(page)
    assert broken == [], f"broken links in {page.name}:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", doc_pages(), ids=page_id)
def test_named_configs_and_benchmarks_exist(page: Path) -> None:
    """Every ``configs/...yaml`` and ``benchmarks/...py`` a page names is a real file."""
    text = page.read_text(encoding="utf-8")
    missing = sorted({p for p in REPO_PATH.findall(text) if not (REPO / p).is_file()})
    assert missing == [], f"{page.name} names files that do not exist: {missing}"


def test_results_index_links_every_section_of_every_results_page() -> None:
    """docs/results.md is the index of docs/results/: one click from it to any section's table."""
    index = REPO / "docs" / "results.md"
    linked = {(index.parent / target).resolve().relative_to(REPO).as_posix()
              for target in LINK.findall(prose(index.read_text(encoding="utf-8")))}
    pages = sorted((REPO / "docs" / "results").glob("*.md"))
    assert pages, "docs/results/ has no pages"
    missing = []
    for page in pages:
        name = page.relative_to(REPO).as_posix()
        text = page.read_text(encoding="utf-8")
        title = slug(HEADING.findall(FENCE.sub("", text))[0])
        missing += [f"{name}#{a}" for a in sorted(anchors(text) - {title}) if f"{name}#{a}" not in linked]
        if name not in linked and f"{name}#{title}" not in linked:
            missing.append(name)
    assert missing == [], "docs/results.md does not link:\n" + "\n".join(missing)


def test_config_reference_example_validates() -> None:
    """The full example of docs/config.md is a valid config (its base file aside)."""
    from hlynr.config import validate_config

    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    full = next(b for b in blocks if isinstance(b, dict) and {"env", "algo", "callbacks"} <= set(b))
    full.pop("extends", None)
    validate_config(full, "docs/config.md")
