"""The installation checks (``kiosk self-test``) and the PyInstaller one-folder build.

The build takes about a minute and a half on 2 cores (marked slow; KIOSK_SKIP_BUILD=1 skips it
for quick local runs); the self-test of the checkout always runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kiosk_testing import run_kiosk

REPO = Path(__file__).resolve().parents[2]


def test_self_test_passes_on_this_checkout(data_dir: Path):
    r = run_kiosk(data_dir, "self-test")
    assert r.returncode == 0, r.stdout + r.stderr
    for check in ("database", "font", "drivers", "layouts", "sounds"):
        assert f"ok   {check}:" in r.stdout


def test_the_sounds_are_short_distinct_wavs():
    import wave

    lengths = {}
    for name in ("pass", "stop"):
        with wave.open(str(REPO / "assets" / "sounds" / f"{name}.wav")) as w:
            lengths[name] = w.getnframes() / w.getframerate()
    assert 0.2 < lengths["pass"] < 1.5 and 0.2 < lengths["stop"] < 1.5
    assert lengths["pass"] != lengths["stop"]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KIOSK_SKIP_BUILD") == "1", reason="KIOSK_SKIP_BUILD=1")
def test_pyinstaller_build_passes_its_self_test(tmp_path: Path):
    if shutil.which("pyinstaller", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("pyinstaller is not installed (pip install -e '.[test]')")
    dist, work = tmp_path / "dist", tmp_path / "build"
    subprocess.run([str(Path(sys.executable).parent / "pyinstaller"), "--noconfirm",
                    "--log-level", "WARN", "--distpath", str(dist), "--workpath", str(work),
                    str(REPO / "kiosk.spec")], check=True, cwd=REPO, timeout=1800)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KIOSK_DATA_DIR")}
    r = subprocess.run([str(dist / "kiosk" / "kiosk"), "--data-dir", str(tmp_path / "data"),
                        "--self-test"], capture_output=True, text=True, timeout=300, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   font:" in r.stdout and "assets/fonts" in r.stdout
