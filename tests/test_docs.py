"""The documentation holds together: README.md is a map (short, linking every page of docs/), and every
relative link in README.md and docs/*.md lands on a file that exists and, for ``page.md#anchor`` or
``#anchor``, on a heading of that page.

Markdown is parsed with markdown-it-py (CommonMark), so links inside code spans and code blocks are not
links, as on GitHub. Anchors follow GitHub's heading slugs: the heading's text as rendered, lowercased,
every character but letters, digits, ``-``, ``_`` and spaces dropped, spaces turned into ``-``, and a
repeated slug suffixed ``-1``, ``-2``, ... Fast: no pipeline import.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
MAX_README_LINES = 150

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")  # https:, mailto:, protocol-relative: not ours


def slug(heading: str) -> str:
    """GitHub's anchor for a heading whose rendered text is ``heading`` (before de-duplication)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def parse(path: Path) -> tuple[list[str], set[str]]:
    """The link targets of a Markdown file (``href`` and image ``src``) and the anchors of its headings."""
    tokens = MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8"))
    targets: list[str] = []
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[i + 1]
            text = "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))
            base = slug(text)
            count = seen.get(base, 0)
            seen[base] = count + 1
            anchors.add(base if count == 0 else f"{base}-{count}")
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(str(child.attrs["href"]))
            elif child.type == "image":
                targets.append(str(child.attrs["src"]))
    return targets, anchors


def broken_links(path: Path, repo: Path = REPO) -> list[str]:
    """Every relative link of ``path`` that does not resolve, each with the reason."""
    targets, own_anchors = parse(path)
    repo = repo.resolve()
    problems = []
    for target in targets:
        if SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path.resolve()
        if not dest.is_relative_to(repo):
            problems.append(f"{target}: outside the repository")
        elif not dest.exists():
            problems.append(f"{target}: no file {dest.relative_to(repo)}")
        elif anchor:
            if dest.suffix != ".md" or dest.is_dir():
                problems.append(f"{target}: an anchor into {dest.relative_to(repo)}, which is not a Markdown page")
            elif unquote(anchor) not in (own_anchors if dest == path.resolve() else parse(dest)[1]):
                problems.append(f"{target}: no heading #{anchor} in {dest.relative_to(repo)}")
    return problems


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    problems = broken_links(page)
    assert not problems, f"{page.relative_to(REPO)}:\n" + "\n".join(problems)


def test_readme_is_a_map_of_at_most_150_lines() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail into a docs/ page"


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / unquote(t.partition("#")[0])).resolve() for t in parse(README)[0] if not SCHEME.match(t)}
    assert PAGES, "no docs/*.md"
    missing = [p.name for p in PAGES if p.resolve() not in linked]
    assert not missing, f"docs pages README.md does not link: {missing}"


@pytest.mark.parametrize(("heading", "anchor"), [
    # Written out by hand from GitHub's rule, the way github.com renders these headings.
    ("Auditing an account's followers", "auditing-an-accounts-followers"),
    ("`label-import`", "label-import"),
    ("The queue: what DVC promises, and what it does not", "the-queue-what-dvc-promises-and-what-it-does-not"),
    ("In the terminal: `igfake label`", "in-the-terminal-igfake-label"),
    ("train_list and the -j flag", "train_list-and-the--j-flag"),
])
def test_slug_follows_githubs_rule(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## Same\n\n## Same\n")
    page = tmp_path / "docs" / "a.md"
    page.write_text(
        "# A page\n\n"
        "[fine](b.md) [fine](b.md#same-1) [fine](#a-page) [web](https://example.com/x.md) `[code](gone.md)`\n\n"
        "[no file](gone.md) [no heading](b.md#same-2) [no own heading](#nowhere) [escapes](../../x.md)\n\n"
        "```\n[in a block](gone-too.md)\n```\n"
    )
    assert broken_links(page, tmp_path) == [
        "gone.md: no file docs/gone.md",
        "b.md#same-2: no heading #same-2 in docs/b.md",
        "#nowhere: no heading #nowhere in docs/a.md",
        "../../x.md: outside the repository",
    ]
