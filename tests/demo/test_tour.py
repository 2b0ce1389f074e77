"""``hookgate demo``: the whole demo as a real process."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hookgate.demo import run_demo
from hookgate.errors import ConfigError
from tests.demo._rows import ROW_TITLES
from tests.support import free_port


@pytest.mark.slow
def test_demo_once_verifies_every_scheme(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [
            sys.executable,
            "-m",
            "hookgate",
            "demo",
            "--once",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("admin API token:  hgk_") for line in lines), proc.stdout
    assert any(line.startswith("hookgate API:     http://127.0.0.1:") for line in lines), proc.stdout
    for title in ROW_TITLES:
        (row,) = [line for line in lines if line.startswith(title)]
        assert "verified" in row, row
        assert "REFUSED" not in row, row
    assert f"all {len(ROW_TITLES)} schemes verified" in proc.stdout
    assert (tmp_path / "data" / "hookgate.db").exists()


async def test_demo_on_a_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    # uvicorn's sys.exit() on a failed bind used to end the process instead of the demo's own error
    out = io.StringIO()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await run_demo(once=True, port=port, data_dir=tmp_path / "data", out=out)
    assert "admin API token" not in out.getvalue()  # nothing announced for a server that never listened
