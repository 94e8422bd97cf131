"""A server in a child process on a free port of 127.0.0.1, for the tests and the benchmark: start it, wait
until it answers, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


class ServerStartError(RuntimeError):
    """The server exited, or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server_process(command: list[str], cwd: Path, ready_path: str, timeout: float = 120,
                   env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run ``command`` (``{port}`` in it is replaced by a free port), wait until ``ready_path`` answers 200,
    yield the base URL, and stop the process afterwards."""
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    base = f"http://127.0.0.1:{port}"
    # The log goes to a file: a pipe nobody reads fills up (a server logs every request) and blocks the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(command, cwd=cwd, env=dict(env or os.environ), stdout=log,
                                  stderr=subprocess.STDOUT, text=True)

        def failed(reason: str) -> ServerStartError:
            log.seek(0)
            return ServerStartError(f"{' '.join(command)} {reason}:\n{log.read()[-5000:]}")

        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    raise failed(f"exited with {server.returncode}")
                try:
                    if httpx.get(base + ready_path, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise failed(f"did not answer {ready_path} within {timeout:.0f} s")
                time.sleep(0.25)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
