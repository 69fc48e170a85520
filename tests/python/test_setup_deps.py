"""setup-deps.sh on Fedora: succeeds when every package is present, installs what is missing.
The system is played by an os-release file and stand-ins for rpm, dnf and sudo on PATH."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "setup-deps.sh"


def _fake_fedora(tmp_path, missing=()):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "dnf.log"
    missing_list = " ".join(missing)
    # rpm -q --whatprovides NAME: fails for the names listed as missing.
    (bin_dir / "rpm").write_text(
        "#!/bin/sh\nfor m in " + missing_list + "; do [ \"$3\" = \"$m\" ] && exit 1; done\n"
        "exit 0\n")
    (bin_dir / "dnf").write_text(f"#!/bin/sh\necho \"$@\" >> '{log}'\n")
    (bin_dir / "sudo").write_text("#!/bin/sh\nexec \"$@\"\n")
    (bin_dir / "uname").write_text("#!/bin/sh\necho Linux\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    release = tmp_path / "os-release"
    release.write_text('ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n')
    env = dict(os.environ, CVP_OS_RELEASE=str(release),
               PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    return env, log


@pytest.mark.parametrize("flags", [[], ["--test"]])
def test_fedora_with_every_package_exits_0_and_installs_nothing(tmp_path, flags):
    env, log = _fake_fedora(tmp_path)
    result = subprocess.run(["bash", str(SCRIPT), *flags], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "already installed" in result.stdout
    assert not log.exists()


def test_fedora_installs_only_what_is_missing(tmp_path):
    env, log = _fake_fedora(tmp_path, missing=("tbb-devel", "python3-scipy"))
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    installed = log.read_text().split()
    assert installed[:2] == ["install", "-y"]
    assert {"tbb-devel", "python3-scipy"} <= set(installed)
    assert "cmake" not in installed


def test_unknown_system_is_refused_with_the_package_list(tmp_path):
    env, _ = _fake_fedora(tmp_path)
    Path(env["CVP_OS_RELEASE"]).write_text("ID=plan9\n")
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "unknown system 'plan9'" in result.stderr
