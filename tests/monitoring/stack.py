"""Start daphne (or a variant of it) as a subprocess for verification tests."""

import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT, subprocess_env, wait_for_port


def start_web(port: int, log_path: Path, *, module: str = "config.serve", **env: str):
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=subprocess_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process=process)
    return process
