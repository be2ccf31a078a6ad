"""Migrations are append-only (migrations/README.md): a released migration, listed with its
SHA-256 in RELEASED.sha256, never changes; new ones take the next number and follow the head.
For the kiosk's store and the central store alike."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIRS = [ROOT / "migrations", ROOT / "migrations_server"]
_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.py")


def released(directory: Path) -> dict[str, str]:
    """versions/<file> -> SHA-256, as listed in RELEASED.sha256 (sha256sum's format)."""
    out = {}
    for line in (directory / "RELEASED.sha256").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        out[name.lstrip("*")] = digest
    return out


def revision_ids(path: Path) -> tuple[str | None, str | None]:
    """(revision, down_revision) as the module assigns them."""
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            for t in targets:
                if isinstance(t, ast.Name) and t.id in ("revision", "down_revision"):
                    assert node.value is not None
                    found[t.id] = ast.literal_eval(node.value)
    return found.get("revision"), found.get("down_revision")


@pytest.mark.parametrize("directory", DIRS, ids=lambda d: d.name)
def test_released_migrations_are_never_edited(directory: Path):
    listed = released(directory)
    assert listed, "RELEASED.sha256 lists no migration"
    for name, digest in listed.items():
        path = directory / name
        assert path.is_file(), f"released migration {name} was removed or renamed"
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        assert actual == digest, (
            f"released migration {directory.name}/{name} was edited: make the change a new "
            "migration with the next number instead (migrations/README.md)")


@pytest.mark.parametrize("directory", DIRS, ids=lambda d: d.name)
def test_new_migrations_are_appended_with_the_next_number_after_the_head(directory: Path):
    files = sorted(p for p in (directory / "versions").glob("*.py"))
    numbers = []
    for p in files:
        m = _NAME.fullmatch(p.name)
        assert m, f"{p.name}: migrations are named NNNN_what_changed.py"
        numbers.append(int(m.group(1)))
    assert len(set(numbers)) == len(numbers), "two migrations share a number"
    listed = released(directory)
    newest_released = max(int(_NAME.fullmatch(Path(n).name).group(1))  # type: ignore[union-attr]
                          for n in listed)
    for p, n in zip(files, numbers, strict=True):
        if f"versions/{p.name}" not in listed:
            assert n > newest_released, (
                f"{p.name} is not released but numbered below the released "
                f"{newest_released:04d}: new migrations take the next number")
    # the chain follows the file order: each one's down_revision is the one before
    previous = None
    for p in files:
        revision, down = revision_ids(p)
        assert revision == p.name[:4], f"{p.name}: revision id is its number"
        assert down == previous, f"{p.name}: down_revision must be {previous!r}, the head"
        previous = revision
