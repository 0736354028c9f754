"""Every relative link and image of the README and docs/ reaches a file of the repository, and
every `#anchor` a heading of that file: the README is a front door to docs/, so a page moved or
a heading renamed must not leave a dead link behind.

Anchors are GitHub's: the heading in lower case, punctuation but `-` and `_` dropped, spaces as
`-`, and `-1`, `-2` … for repeated headings. The one link that may leave the repository is to
DESIGN.md, the contract, which lives beside it (`../shared/DESIGN.md`); links with a scheme
(https:, mailto:) are not checked here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_IMG_SRC = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.I)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


class Link(NamedTuple):
    page: Path
    target: str

    @property
    def path(self) -> Path:
        """The file it points to (the page itself for a bare `#anchor`)."""
        path = self.target.partition("#")[0]
        return (self.page.parent / path).resolve() if path else self.page


def prose(text: str) -> str:
    """The page without fenced code blocks and code spans, whose brackets are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def links(page: Path) -> Iterator[Link]:
    text = prose(page.read_text())
    for pattern in (_LINK, _IMG_SRC):
        for match in pattern.finditer(text):
            yield Link(page, match.group(1))


def anchors(page: Path) -> set[str]:
    """The GitHub anchors of a page's headings."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in _HEADING.finditer(_FENCE.sub("", page.read_text())):
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def inside_repository(path: Path) -> bool:
    return path == ROOT or ROOT in path.parents


RELATIVE = [link for page in PAGES for link in links(page) if not re.match(r"^[a-z][a-z0-9+.-]*:", link.target, re.I)]
LOCAL = [link for link in RELATIVE if inside_repository(link.path)]
DESIGN = ROOT.parent / "shared" / "DESIGN.md"


def test_the_pages_have_links_to_check() -> None:
    assert (ROOT / "docs" / "architecture.md") in PAGES
    readme_targets = {link.target for link in LOCAL if link.page.name == "README.md"}
    assert {"docs/architecture.md", "docs/configuration.md", "docs/operations.md"} <= readme_targets


def test_only_design_md_is_linked_outside_the_repository() -> None:
    outside = [link for link in RELATIVE if link not in LOCAL]
    assert outside, "README.md and docs/ link to DESIGN.md beside the repository"
    assert [link for link in outside if link.path != DESIGN] == []


@pytest.mark.parametrize("link", LOCAL, ids=lambda link: f"{link.page.relative_to(ROOT)}->{link.target}")
def test_every_relative_link_and_image_resolves(link: Link) -> None:
    path, _, fragment = link.target.partition("#")
    target = link.path
    assert target.exists(), f"{link.page.relative_to(ROOT)}: {link.target} does not exist"
    if fragment:
        assert target.suffix == ".md", f"{link.page.relative_to(ROOT)}: an anchor into {path}, not a page"
        assert fragment in anchors(target), (
            f"{link.page.relative_to(ROOT)}: {link.target}: no heading with anchor #{fragment} in {path or 'the page'}")


def test_anchors_follow_github() -> None:
    """The slug rule against headings whose GitHub anchors are known."""
    page = ROOT / "docs" / "architecture.md"
    assert {"the-twitchstreams-message-schema-v2", "how-windows-close", "adding-a-warehouse"} <= anchors(page)
    assert "processor-throughput-as-users-run-it-issue-25" in anchors(ROOT / "docs" / "benchmarks.md")
