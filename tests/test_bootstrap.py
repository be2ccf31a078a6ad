"""scripts/bootstrap's pip step, run for real on a tiny project: the flood of "Location
'file://...' is ignored" warnings a local index gives is gone, pip's own errors are still
shown, and a failing pip still fails the script (issue 13: a filter once hid a failure).

Offline: pip is pointed at this machine's local index (setuptools for the build) and at an
empty file:// directory as the extra index, which warns once per project looked up, like
/opt/pypi-more does. No dpkg-query on the PATH, so no Debian package is looked at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pip
import pytest

REPO = Path(__file__).resolve().parents[1]
LOCAL_INDEX = Path("/opt/pypi/simple")
IGNORED = "is ignored: it is neither a file nor a directory"


def _checkout(tmp_path: Path, build_needs: str = "setuptools") -> Path:
    """A checkout with the real script and a project of its own, built with
    ``build_needs``."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "bootstrap", root / "scripts" / "bootstrap")
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["{build_needs}"]\n'
        'build-backend = "setuptools.build_meta"\n'
        # six: small, on the local index, and looked up by pip itself (not in a build step)
        '[project]\nname = "bootstrap-probe"\nversion = "0"\ndependencies = ["six"]\n'
        '[project.optional-dependencies]\ntest = []\n'
        '[tool.setuptools]\npy-modules = []\n', "utf-8")
    # a venv of its own (what the script installs into), its pip the test run's
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")],
                   check=True)
    return root


def _bootstrap(root: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "bin"  # what the script needs, and no dpkg-query, apt-get or sudo
    tools.mkdir()
    for tool in ("bash", "dirname", "id", "sed", "sh"):
        found = shutil.which(tool)
        assert found, tool
        (tools / tool).symlink_to(found)
    only_pip = tmp_path / "pip-only"  # pip, and none of the test run's other packages
    only_pip.mkdir()
    (only_pip / "pip").symlink_to(Path(pip.__file__).parent)
    empty = tmp_path / "empty-index"
    empty.mkdir()
    env = {"PATH": str(tools), "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull,
           "PIP_INDEX_URL": LOCAL_INDEX.as_uri(), "PIP_EXTRA_INDEX_URL": empty.as_uri(),
           "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PYTHONPATH": str(only_pip)}
    return subprocess.run([str(tools / "bash"), str(root / "scripts" / "bootstrap"), "test"],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(autouse=True)
def _local_index() -> None:
    if not (LOCAL_INDEX / "setuptools").is_dir():
        pytest.skip(f"no local index with setuptools at {LOCAL_INDEX}")


def test_a_good_install_is_quiet_and_succeeds(tmp_path: Path):
    """pip looks setuptools up in both indexes: the empty one's warning is not shown, and
    a filter that found nothing left to print does not turn success into failure."""
    done = _bootstrap(_checkout(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert IGNORED not in done.stdout + done.stderr


def test_a_failing_pip_fails_the_script_and_says_why(tmp_path: Path):
    """The build needs a project no index has: pip's error is shown, the script fails."""
    done = _bootstrap(_checkout(tmp_path, "bootstrap-probe-absent"), tmp_path)
    assert done.returncode != 0
    assert "bootstrap-probe-absent" in done.stderr  # pip's own error, shown
    assert "ERROR" in done.stderr
    assert IGNORED not in done.stdout + done.stderr
