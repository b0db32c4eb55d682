"""`make test` / `make demo` install system packages only when allowed, and always print the command first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_bin(tmp_path):
    """A PATH whose apt-get and sudo only record how they were called."""
    log = tmp_path / "calls.log"
    for name in ("apt-get", "sudo"):
        tool = tmp_path / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n[ "{name}" = sudo ] && exec "$@"\nexit 0\n')
        tool.chmod(0o755)
    return tmp_path, log


def _install(fake_bin, **env) -> tuple[subprocess.CompletedProcess, str]:
    path, log = fake_bin
    environment = {"PATH": f"{path}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"), **env}
    script = 'source scripts/system-packages.sh; system_packages_install test-env "browser tests" chromium fonts-dejavu-core'
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True)
    return done, log.read_text() if log.exists() else ""


def test_not_allowed_prints_what_is_missing_and_the_command_and_installs_nothing(fake_bin):
    done, calls = _install(fake_bin)
    assert done.returncode == 1 and calls == ""
    assert "missing system packages: chromium fonts-dejavu-core" in done.stderr
    assert "apt-get install -y chromium fonts-dejavu-core" in done.stderr
    assert "CAVRA_INSTALL_SYSTEM_PACKAGES=1" in done.stderr


@pytest.mark.parametrize(
    "env, installs",
    [
        ({"CAVRA_INSTALL_SYSTEM_PACKAGES": "1"}, True),
        ({"CI": "true"}, os.getuid() == 0),  # root under CI, as .ci/run runs
        ({"CI": "true", "CAVRA_INSTALL_SYSTEM_PACKAGES": "0"}, False),
    ],
)
def test_allowed_installs_after_printing_the_command(fake_bin, env, installs):
    done, calls = _install(fake_bin, **env)
    assert (done.returncode == 0) == installs
    assert ("apt-get install -y -qq chromium fonts-dejavu-core" in calls) == installs
    if installs:
        assert "installing system packages (browser tests): " in done.stderr
        assert "apt-get install -y chromium fonts-dejavu-core" in done.stderr


def test_ci_allows_installing():
    assert (
        'CAVRA_INSTALL_SYSTEM_PACKAGES="${CAVRA_INSTALL_SYSTEM_PACKAGES:-1}"'
        in (ROOT / ".ci" / "run").read_text()
    )


def test_the_demo_port_is_a_make_variable_defaulting_to_8000():
    def dry_run(*args):
        return subprocess.run(["make", "-n", "demo", *args], cwd=ROOT, capture_output=True, text=True).stdout

    assert "runserver 127.0.0.1:8123" in dry_run("PORT=8123") and "http://127.0.0.1:8123" in dry_run(
        "PORT=8123"
    )
    assert "runserver 127.0.0.1:8000" in dry_run()
    assert "8000" not in (ROOT / "Makefile").read_text().replace("PORT ?= 8000", "").replace(
        "8000 by default", ""
    )
