"""A fresh venv that also finds the packages of the interpreter running this code, whatever that interpreter is.

`python -m venv --system-site-packages` links the base installation's packages, which, when the tests run
inside a venv (the README's set-up), are not the ones installed for the tests. Here the new venv gets a .pth
file naming the running interpreter's site-packages folders instead. Those folders' own .pth files are not
read, so an editable install of this project there stays out of the new venv.

    python tests/linked_venv.py DIR    # make the venv, print its interpreter
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

PTH_NAME = "running_interpreter_packages.pth"


def package_folders() -> list[str]:
    """The site-packages folders of the running interpreter: its own, and the user's where it reads those."""
    folders = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        folders.append(site.getusersitepackages())
    return folders


def linked_venv(venv: Path) -> Path:
    """Make a venv at `venv` (no pip of its own: the running interpreter's serves) and return its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / PTH_NAME).write_text("".join(f"{folder}\n" for folder in package_folders()))
    return python


if __name__ == "__main__":
    print(linked_venv(Path(sys.argv[1])))
