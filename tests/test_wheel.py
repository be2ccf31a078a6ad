"""The kiosk as users install it: a wheel built from this repository, installed into a fresh
virtualenv outside the checkout, must run on its own (migrations, layouts and sounds inside
the package), and the base install must not require the central store.

The fresh venv gets the wheel alone (``--no-deps``); its dependencies come from this
interpreter's site-packages through a path file, so the test needs no network and takes about
10 s. What the base install requires is checked in the wheel's own metadata.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SERVER_DEPS = {"fastapi", "uvicorn", "psycopg"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(REPO)], check=True, timeout=300, cwd=out)
    (whl,) = out.glob("checkpoint_kiosk-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=300)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies only: a plain path line, so this venv's editable finder is not loaded
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def _kiosk(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KIOSK_DATA_DIR")}
    env["KIVY_NO_ARGS"] = "1"
    return subprocess.run([str(bin_dir / "kiosk"), "--data-dir", str(cwd / "data"), *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_every_package_of_the_tree_is_in_the_wheel(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    for init in sorted((REPO / "kiosk").rglob("__init__.py")):
        rel = init.relative_to(REPO).as_posix()
        assert rel in names, f"{rel} is not packaged: list it in pyproject.toml"
    for needed in ("kiosk/migrations/env.py", "kiosk/migrations/versions/0001_initial_schema.py",
                   "kiosk/migrations_server/env.py", "kiosk/assets/sounds/pass.wav",
                   "kiosk/ui/screens/gate.kv", "kiosk/assets/pinyin.txt"):
        assert needed in names


def test_the_base_install_needs_no_central_store(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode())
    base, server = set(), set()
    for req in meta.get_all("Requires-Dist") or []:
        name = req.split(";")[0].split("[")[0].split("<")[0].split(">")[0].strip().lower()
        if "extra ==" not in req:
            base.add(name)
        elif "'server'" in req or '"server"' in req:
            server.add(name)
    assert not base & SERVER_DEPS, base
    assert server >= SERVER_DEPS


def test_the_installed_wheel_runs_from_anywhere(installed: Path, tmp_path: Path):
    r = subprocess.run([str(installed / "python"), "-c", "import kiosk; print(kiosk.__file__)"],
                       capture_output=True, text=True, cwd=tmp_path, check=True)
    assert r.stdout.startswith(str(installed.parent)), r.stdout  # not the checkout
    r = _kiosk(installed, tmp_path, "self-test")
    assert r.returncode == 0, r.stdout + r.stderr
    for check in ("database", "layouts", "sounds"):
        assert f"ok   {check}:" in r.stdout
    r = _kiosk(installed, tmp_path, "db", "upgrade")
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "roster.csv").write_text(
        "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"
        "张伟,1,1,101,,13800000000,R1,resident,2020-01-01,2099-12-31\n", encoding="utf-8")
    r = _kiosk(installed, tmp_path, "residents", "import", str(tmp_path / "roster.csv"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = _kiosk(installed, tmp_path, "check", "R1", "--temp", "36.5", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"outcome": "allow"' in r.stdout
    r = _kiosk(installed, tmp_path, "serve", "--help")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "central store" in r.stdout.lower()
