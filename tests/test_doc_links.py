"""Every relative link in README.md and docs/*.md resolves: the file exists, and a #anchor names a heading of the
Markdown file it points into (GitHub's heading slugs). External links (http, mailto) are not fetched."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, inline markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link in a heading keeps its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters and digits of any script, and _
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings, with GitHub's -1, -2 … for repeated ones."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m[1])
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    """The link targets of a Markdown file, outside code blocks and code spans."""
    text = CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return LINK.findall(text)


def broken_links(path: Path) -> list[str]:
    """Each relative link of `path` that does not resolve, with the reason."""
    bad = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{path.relative_to(ROOT)}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{path.relative_to(ROOT)}: {target}: no heading with anchor #{anchor} in {dest.name}")
    return bad


def test_every_relative_link_in_the_readme_and_docs_resolves():
    assert len(pages()) > 5  # the README and the docs pages
    bad = [b for page in pages() for b in broken_links(page)]
    assert bad == [], "\n".join(bad)


def test_the_check_fires_on_a_missing_file_and_a_missing_anchor(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Other page\n\n## What `make bench` prints, and where\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#what-make-bench-prints-and-where) [self](#page) "
                    "[web](https://example.org/x) `[code](nowhere.md)`\n\n"
                    "[gone](missing.md) [bad anchor](other.md#what-make-bench-prints) ![img](pic.png)\n")
    assert broken_links(page) == ["page.md: missing.md: no such file",
                                  "page.md: other.md#what-make-bench-prints: no heading with anchor "
                                  "#what-make-bench-prints in other.md",
                                  "page.md: pic.png: no such file"]


def test_github_slugs():
    assert slug("Should I leave TensorFlow?") == "should-i-leave-tensorflow"
    assert slug("What `info` prints on a Mac, and what it means") == "what-info-prints-on-a-mac-and-what-it-means"
    assert slug('How to read "The answer"') == "how-to-read-the-answer"
    assert slug("`make bench` and `make test`") == "make-bench-and-make-test"
