"""The Vagrantfile is checked by Vagrant itself (`vagrant validate`)."""

import shutil
import subprocess
from pathlib import Path

import pytest

VAGRANTFILE = Path(__file__).resolve().parents[2] / "Vagrantfile"


def validate(directory: Path, provider: str) -> subprocess.CompletedProcess:
    # VirtualBox itself cannot be installed here: its provider section is checked by the
    # Vagrant on a sysadmin's laptop; libvirt's is checked in full.
    extra = ["--ignore-provider"] if provider == "virtualbox" else []
    return subprocess.run(
        ["vagrant", "validate", *extra],
        cwd=directory,
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(directory),
            "VAGRANT_DEFAULT_PROVIDER": provider,
        },
        timeout=120,
    )


@pytest.mark.parametrize("provider", ["virtualbox", "libvirt"])
def test_vagrantfile_validates(tmp_path, provider):
    shutil.copy(VAGRANTFILE, tmp_path / "Vagrantfile")
    result = validate(tmp_path, provider)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_a_broken_vagrantfile_is_caught(tmp_path):
    text = VAGRANTFILE.read_text().replace(
        'config.vm.hostname = "difusor-vagrant"', "config.vm.hostnam = 1"
    )
    (tmp_path / "Vagrantfile").write_text(text)
    result = validate(tmp_path, "virtualbox")
    assert result.returncode != 0
