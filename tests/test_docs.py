"""The documentation builds, its links lead somewhere, and its configuration table matches the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pc_middleware import PureClaritySettings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

_FENCED_CODE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_CONFIG_ROW = re.compile(r"^\| `(PURECLARITY_[A-Z_]+)` \| [^|]+ \| ([^|]+) \|", re.MULTILINE)


def relative_links(page: Path) -> list[str]:
    """The targets of the Markdown links and images in ``page`` that point inside the repository."""
    text = _INLINE_CODE.sub("", _FENCED_CODE.sub("", page.read_text()))
    return [target for target in _LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#", target)]


def test_the_docs_build_with_mkdocs_in_strict_mode(tmp_path: Path) -> None:
    # strict: a page missing from the nav, a broken link or a missing anchor fails the build (mkdocs.yml).
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_that_exists(page: Path) -> None:
    missing = [
        target for target in relative_links(page) if not (page.parent / target.partition("#")[0]).resolve().exists()
    ]

    assert missing == []


def test_the_link_check_sees_the_links_in_the_readme() -> None:
    links = relative_links(ROOT / "README.md")

    assert "docs/configuration.md" in links
    assert "docs/shop.png" in links
    assert not any("`" in link or link.startswith("http") for link in links)


def test_the_configuration_table_lists_exactly_the_settings_with_their_defaults() -> None:
    rows = dict(_CONFIG_ROW.findall((DOCS / "configuration.md").read_text()))
    fields = PureClaritySettings.model_fields

    assert sorted(rows) == sorted(f"PURECLARITY_{name.upper()}" for name in fields)
    for name, field in fields.items():
        written = rows[f"PURECLARITY_{name.upper()}"].strip().strip("`")
        assert is_written_as(field.default, written), name


def is_written_as(default: object, written: str) -> bool:
    """Whether the table's ``written`` default (``true``, ``1.0``, ``30``, ``unset``, ``empty``) is ``default``."""
    if default is None:
        return written == "unset"
    if default == ():
        return written == "empty"
    if isinstance(default, bool):
        return written == str(default).lower()
    if isinstance(default, int | float):
        return float(written) == default
    return written == default


def test_every_variable_the_docs_name_is_a_real_setting() -> None:
    real = {f"PURECLARITY_{name.upper()}" for name in PureClaritySettings.model_fields}
    named = {(page.name, name) for page in PAGES for name in re.findall(r"PURECLARITY_[A-Z_]*[A-Z]", page.read_text())}

    assert {(page, name) for page, name in named if name not in real} == set()
