"""Where the server listens: RNNLAB_HOST / RNNLAB_PORT reach `rnnlab serve` through `make run` and the image
(the Makefile and the Dockerfile used to pass --host 127.0.0.1 --port 8000 whatever the environment said)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app import cli

ROOT = Path(__file__).resolve().parent.parent


def _make_run(*args: str, **env: str) -> str:
    """The command `make run` would execute (make -n), with ``env`` added to the environment."""
    result = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "run", *args], env={**os.environ, **env},
                            capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_run_leaves_the_address_to_the_settings():
    command = _make_run(HOST="some-host-name", RNNLAB_PORT="9000")  # shells may export HOST=<host name>
    assert command.endswith("rnnlab serve"), command


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_run_still_takes_them_as_make_variables():
    command = _make_run("HOST=0.0.0.0", "PORT=9001")
    assert command.endswith("rnnlab serve --host 0.0.0.0 --port 9001")


def test_rnnlab_serve_listens_where_the_settings_say(monkeypatch):
    seen = {}

    class Recorder:
        def __init__(self, config):
            seen["host"], seen["port"] = config.host, config.port

        def run(self):
            pass

    monkeypatch.setenv("RNNLAB_HOST", "0.0.0.0")
    monkeypatch.setenv("RNNLAB_PORT", "9002")
    cli.get_settings.cache_clear()
    monkeypatch.setattr(cli, "GracefulServer", Recorder)
    try:
        cli.main(["serve"])
    finally:
        cli.get_settings.cache_clear()
    assert seen == {"host": "0.0.0.0", "port": 9002}


def test_the_image_serves_on_its_settings_and_checks_health_there():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (.*)$", dockerfile, re.M).group(1)
    assert "--port" not in cmd and "--host" not in cmd
    assert re.search(r"RNNLAB_HOST=0\.0\.0\.0", dockerfile) and re.search(r"RNNLAB_PORT=8000", dockerfile)
    healthcheck = dockerfile.split("HEALTHCHECK", 1)[1].split("\n# ", 1)[0]
    assert "RNNLAB_PORT" in healthcheck and ":8000/" not in healthcheck
