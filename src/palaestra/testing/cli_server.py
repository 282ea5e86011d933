"""A ``palaestra`` server command (serve, mcp --http, view) in a subprocess on a free 127.0.0.1 port,
waited for: for tests and benchmarks of the bridges."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def cli_server(*args: str, port: int) -> Iterator[subprocess.Popen[str]]:
    """Run ``palaestra ARGS`` until the port accepts connections (bounded wait), then stop it."""
    proc = subprocess.Popen([*PALAESTRA, *args], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read() if proc.stderr else "server exited") from None
                time.sleep(0.1)
        else:
            raise RuntimeError(f"palaestra {' '.join(args)} did not listen on port {port}")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
