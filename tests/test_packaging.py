"""The wheel installs models/ and guides/ as pyronas.models and pyronas.guides, not top-level packages."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_method_packages_under_pyronas(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("pyronas-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pyronas/models/drnas.py" in names and "pyronas/guides/drnas.py" in names
    assert not any(n.startswith(("models/", "guides/", "tests/")) for n in names)
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    zipfile.ZipFile(wheel).extractall(site)  # a wheel install is an unzip into site-packages
    check = (
        "import importlib.util as u, pyronas.models, pyronas.guides; "
        f"assert pyronas.models.__file__.startswith({site!r}); "
        "assert u.find_spec('models') is None and u.find_spec('guides') is None; "
        "assert u.find_spec('pyronas.models.drnas') and u.find_spec('pyronas.guides.darts')"
    )
    subprocess.run([str(python), "-I", "-c", check], check=True, cwd=tmp_path)
