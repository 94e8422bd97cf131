"""Shared fixtures: the repository root, its params, and the real pipeline run on tiny params."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from filelock import FileLock

from seqlab.config import Params, TaskConfig, load_params
from seqlab.serving.process import server_process

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


def tool_env() -> dict[str, str]:
    """This environment with the project's tools first on PATH and no MLflow store inherited from the caller.

    `mlflow server` is told not to start its job runner (five worker processes for MLflow's GenAI jobs, which
    no test uses).
    """
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_tool(command: list[str], cwd: Path, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """Run a command of the project's environment (dvc, seqlab, ...) and fail the test with its output."""
    result = subprocess.run(command, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="session")
def tool_environment() -> dict[str, str]:
    """:func:`tool_env`, for tests that start the project's tools themselves."""
    return tool_env()


@pytest.fixture(scope="session")
def run() -> Runner:
    return run_tool


@contextmanager
def running_server(command: list[str], cwd: Path, ready_path: str, timeout: float = 120) -> Iterator[str]:
    """:func:`server_process` with the project's environment first on PATH and no MLflow URI inherited."""
    with server_process(command, cwd, ready_path, timeout, tool_env()) as base:
        yield base


@pytest.fixture(scope="session")
def start_server() -> ServerStarter:
    """:func:`running_server`: ``with start_server(command, cwd, "/health") as base_url: ...``."""
    return running_server


PIPELINE_TARGETS = ["report", "generation"]
"""What the tiny `project` runs: every task stage (the cell study runs in `study_project`, beside it)."""
STUDY_TARGETS = ["study_report"]


def tiny_copy(root: Path) -> Path:
    """A new git repository at ``root`` with the project's tracked files, tests/pipeline/params.tiny.yaml as its
    params and the test corpus of the user-file task."""
    root.mkdir(parents=True)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    shutil.copy2(REPO / "tests" / "pipeline" / "params.tiny.yaml", root / "params.yaml")
    shutil.copy2(REPO / "tests" / "pipeline" / "data" / "numbers.tsv", root / "data" / "user" / "numbers.tsv")
    run_tool(["git", "init", "-q"], root)
    run_tool(["git", "add", "-A"], root)
    run_tool(["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "tiny copy"], root)
    return root


@pytest.fixture(scope="session")
def make_tiny_copy() -> Callable[[Path], Path]:
    """:func:`tiny_copy`, for tests that need a tiny project of their own."""
    return tiny_copy


PIPELINES_VARIABLE = "SEQLAB_TEST_PIPELINES"
"""A folder shared by the pytest processes of `make test`: the first to ask builds the tiny pipelines there
and the others wait for them and use them. Unset, each process builds its own under its temporary folder."""


def build_pipelines(root: Path) -> dict[str, Path]:
    """Two tiny copies of the project under ``root`` after `seqlab repro` (dvc repro, logged), run side by
    side (each is mostly one busy core): "project" through every task stage and `seqlab bundle`, "study"
    through the cell study. The real pipeline, end to end, in about 19 minutes on a 2-core CPU."""
    project, study = (tiny_copy(root / name) for name in ("project", "study"))
    with tempfile.TemporaryFile(mode="w+") as log:
        beside = subprocess.Popen([str(BIN / "seqlab"), "repro", *STUDY_TARGETS], cwd=study, env=tool_env(),
                                  stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            run_tool(["seqlab", "repro", *PIPELINE_TARGETS], project, timeout=2400)
            run_tool(["seqlab", "bundle", "--out", "dist"], project)
            status = beside.wait(timeout=1200)
        finally:
            if beside.poll() is None:
                beside.kill()
        log.seek(0)
        assert status == 0, f"seqlab repro {' '.join(STUDY_TARGETS)} failed:\n{log.read()[-5000:]}"
    return {"project": project, "study": study}


@pytest.fixture(scope="session")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny pipelines of :func:`build_pipelines`, built once for every pytest process that shares
    ``$SEQLAB_TEST_PIPELINES``; a failed build is reported to each of them, not retried."""
    shared = os.environ.get(PIPELINES_VARIABLE)
    root = Path(shared) if shared else tmp_path_factory.mktemp("pipelines")
    built, failed = root / "built", root / "failed.txt"
    with FileLock(root / "build.lock", timeout=3600):
        if failed.exists():
            pytest.fail(f"the tiny pipelines failed to build (in another pytest process):\n{failed.read_text()}")
        if not built.exists():
            try:
                build_pipelines(root)
            except BaseException as error:
                failed.write_text(str(error))
                raise
            built.touch()
    return {"project": root / "project", "study": root / "study"}


@pytest.fixture(scope="session")
def project(pipelines: dict[str, Path]) -> Path:
    """The tiny project after every task stage and `seqlab bundle` (see :func:`pipelines`)."""
    return pipelines["project"]


@pytest.fixture(scope="session")
def study_project(pipelines: dict[str, Path]) -> Path:
    """The tiny project after the cell study's stages (see :func:`pipelines`)."""
    return pipelines["study"]


@pytest.fixture(scope="session")
def pipeline_targets() -> list[str]:
    """The stages `project` was reproduced up to (with everything upstream)."""
    return PIPELINE_TARGETS


@pytest.fixture(scope="session")
def study_targets() -> list[str]:
    """The stages `study_project` was reproduced up to (with everything upstream)."""
    return STUDY_TARGETS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the tiny pipelines is marked e2e: `make test` runs the e2e tests and the others as two
    pytest runs side by side, and the pipelines must run in only one of them."""
    unmarked = [item.nodeid for item in items
                if "pipelines" in getattr(item, "fixturenames", ()) and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError(f"tests using the tiny pipelines must be marked e2e: {', '.join(unmarked)}")


@pytest.fixture(scope="session")
def server(project: Path) -> Iterator[str]:
    """`seqlab serve` over the tiny project's bundles, with small limits (8 inputs of 200 characters, 300
    generated characters): its base URL."""
    command = [str(BIN / "seqlab"), "serve", "--bundles", "dist", "--port", "{port}", "--max-items", "8",
               "--max-chars", "200", "--max-length", "300"]
    with running_server(command, project, "/readyz") as base:
        yield base


@pytest.fixture(scope="session")
def tag_tasks(params: Params) -> dict[str, TaskConfig]:
    """The pos and seg tasks as params.yaml configures them."""
    return {name: params.task(name) for name in ("pos", "seg")}
