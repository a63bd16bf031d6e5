"""The README is a map and docs/ the manual: what they cite must exist, so they cannot drift from the tree.

Pure text checks, no server: the README's length, every relative link (and its anchor), every ``make``
target, every module path or dotted module name in inline code, and every test the pages name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`([^`]+)`")
MAKE_TARGET = re.compile(r"(?:^|[\s;(&|])make ([a-z][a-z0-9-]*)")
MAKEFILE_TARGET = re.compile(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", re.MULTILINE)
FOLDERS = "dags|plugins|lambda_function|sandbox|local_stack|bench|tests|include|docs"
REPO_PATH = re.compile(rf"^(?:{FOLDERS})/[\w./-]*$")
TOP_LEVEL_FILE = re.compile(r"^[\w-]+\.(?:yaml|toml|txt|ini)$")
DOTTED_MODULE = re.compile(r"^(?:datalake|local_stack|lambda_function|sandbox|bench)(?:\.\w+)+$")
TEST_NAME = re.compile(r"^test_\w+$")
MODULE_ROOTS = {"datalake": REPO / "plugins" / "datalake"}


def prose_text(page: Path) -> str:
    """``page`` with its fenced code blocks blanked out, line for line, so line numbers still hold."""
    kept, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            kept.append("")
        else:
            kept.append("" if fenced else line)
    return "\n".join(kept)


def fenced_lines(page: Path) -> Iterator[tuple[int, str]]:
    """Each line inside a fenced code block, with its number."""
    fenced = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif fenced:
            yield number, line


def found(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, str]]:
    """Each match of ``pattern``'s first group in ``text``, with the line it starts on (a span or a link
    may run over a line break)."""
    for match in pattern.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, match[1]


def inline_code(page: Path) -> Iterator[tuple[int, str]]:
    return ((number, " ".join(span.split())) for number, span in found(INLINE_CODE, prose_text(page)))


def where(page: Path, number: int) -> str:
    return f"{page.relative_to(REPO)}:{number}"


def heading_slugs(page: Path) -> set[str]:
    """The anchors GitHub gives ``page``'s headings: lower case, punctuation dropped, spaces as hyphens,
    a repeated heading suffixed ``-1``, ``-2``..."""
    slugs: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_text(page).splitlines():
        if match := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line):
            slug = re.sub(r"[^\w\- ]", "", match[1].lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            slugs.add(f"{slug}-{count}" if count else slug)
    return slugs


def module_exists(dotted: str) -> bool:
    """Whether ``dotted`` names a module or package of this repository (any attribute after it aside)."""
    root, *parts = dotted.split(".")
    location = MODULE_ROOTS.get(root, REPO / root)
    if not location.is_dir():
        return False
    for part in parts:
        if (location / f"{part}.py").is_file():
            return True
        if not (location / part).is_dir():
            return False
        location = location / part
    return True


def test_the_readme_stays_a_map_under_200_lines():
    count = len(README.read_text(encoding="utf-8").splitlines())
    assert count < README_MAX_LINES, (
        f"README.md has {count} lines; expected fewer than {README_MAX_LINES}: it is the map, move the "
        "detail to a page of docs/."
    )


def test_every_relative_link_in_the_readme_and_docs_resolves_with_its_anchor():
    broken = []
    for page in PAGES:
        for number, target in found(LINK, prose_text(page)):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{where(page, number)}: link {target!r}: no file {path!r} beside the page")
            elif anchor and linked.suffix == ".md" and anchor not in heading_slugs(linked):
                broken.append(
                    f"{where(page, number)}: link {target!r}: no heading with anchor #{anchor} in "
                    f"{linked.relative_to(REPO)}"
                )
    assert not broken, "Broken links:\n" + "\n".join(broken)


def test_every_make_target_the_readme_and_docs_name_exists_in_the_makefile():
    targets = set(MAKEFILE_TARGET.findall((REPO / "Makefile").read_text(encoding="utf-8")))
    unknown = []
    for page in PAGES:
        for number, code in [*fenced_lines(page), *inline_code(page)]:
            unknown += [
                f"{where(page, number)}: make {target}"
                for target in MAKE_TARGET.findall(code)
                if target not in targets
            ]
    known = ", ".join(sorted(targets))
    assert not unknown, f"Make targets not in the Makefile (it has {known}):\n" + "\n".join(unknown)


def test_every_module_path_the_docs_cite_exists():
    missing = []
    for page in PAGES:
        for number, span in inline_code(page):
            if REPO_PATH.match(span) or TOP_LEVEL_FILE.match(span):
                if not (REPO / span).exists():
                    missing.append(f"{where(page, number)}: {span} does not exist")
            elif DOTTED_MODULE.match(span) and not module_exists(span):
                missing.append(f"{where(page, number)}: {span} names no module of this repository")
    assert not missing, "Cited paths and modules that do not exist:\n" + "\n".join(missing)


def test_every_test_the_docs_name_is_defined_under_tests():
    defined = {
        name
        for source in (REPO / "tests").rglob("*.py")
        for name in re.findall(r"^\s*(?:async\s+)?def (test_\w+)\(", source.read_text(encoding="utf-8"), re.M)
    }
    undefined = [
        f"{where(page, number)}: {span}"
        for page in PAGES
        for number, span in inline_code(page)
        if TEST_NAME.match(span) and span not in defined
    ]
    assert not undefined, "Tests the docs name but no file under tests/ defines:\n" + "\n".join(undefined)
