"""Shared fixtures: the repository root, its params, and the real pipeline run on tiny params."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

from seqlab.config import Params, TaskConfig, load_params

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
Runner = Callable[..., subprocess.CompletedProcess[str]]
ServerStarter = Callable[..., AbstractContextManager[str]]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(REPO / "params.yaml")


def run_tool(command: list[str], cwd: Path, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """Run a command of the project's environment (dvc, seqlab, ...) and fail the test with its output."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="session")
def run() -> Runner:
    return run_tool


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(command: list[str], cwd: Path, ready_path: str, timeout: float = 120) -> Iterator[str]:
    """Start a server process on a free port of 127.0.0.1 (``{port}`` in ``command`` is replaced by it), wait
    until ``ready_path`` answers 200, yield its base URL, and stop it afterwards. A server that exits or never
    gets ready fails the test with its output."""
    port = _free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    base = f"http://127.0.0.1:{port}"
    # The log goes to a file: a pipe nobody reads fills up (a server logs every request) and blocks the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"{' '.join(command)} exited with {server.returncode}:\n{log.read()[-5000:]}")
                try:
                    if httpx.get(base + ready_path, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(command)} did not answer {ready_path} within {timeout:.0f} s")
                time.sleep(0.25)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="session")
def start_server() -> ServerStarter:
    """:func:`running_server`: ``with start_server(command, cwd, "/health") as base_url: ...``."""
    return running_server


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the git-tracked project with tests/pipeline/params.tiny.yaml as its params, after
    `dvc repro` and `seqlab bundle`: the real pipeline, end to end, in a few minutes."""
    root = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    shutil.copy2(REPO / "tests" / "pipeline" / "params.tiny.yaml", root / "params.yaml")
    shutil.copy2(REPO / "tests" / "pipeline" / "data" / "numbers.tsv", root / "data" / "user" / "numbers.tsv")
    run_tool(["git", "init", "-q"], root)
    run_tool(["git", "add", "-A"], root)
    run_tool(["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "tiny copy"], root)
    run_tool(["dvc", "repro"], root, timeout=2400)  # about 20 minutes on a 2-core CPU
    run_tool(["seqlab", "bundle", "--out", "dist"], root)
    return root


@pytest.fixture(scope="session")
def tag_tasks(params: Params) -> dict[str, TaskConfig]:
    """The pos and seg tasks as params.yaml configures them."""
    return {name: params.task(name) for name in ("pos", "seg")}
