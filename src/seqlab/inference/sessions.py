"""ONNX Runtime sessions and the choice of execution provider.

``onnxruntime-gpu`` lists the CUDA provider even where CUDA cannot load, so the only honest test
is to build a session and read back the providers it really got.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Literal

import onnxruntime as ort

logger = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "cuda", "cpu"]
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class ProviderUnavailable(RuntimeError):
    """The CUDA execution provider was asked for but does not load on this machine."""


def create_session(path: Path, provider: ProviderChoice = "auto", threads: int | None = None) -> ort.InferenceSession:
    """A session for ``path``: CUDA when asked or available (``auto``), else the CPU.

    With ``cuda`` a machine without a working CUDA set-up is an error, not a silent CPU run.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: a missing CUDA library is expected on CPU machines
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    wanted = [CPU] if provider == "cpu" else [CUDA, CPU]
    if provider != "cpu" and CUDA not in ort.get_available_providers():
        wanted = [CPU]
    session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    if provider == "cuda" and session_provider(session) != CUDA:
        raise ProviderUnavailable(f"{path}: the CUDA execution provider did not load "
                                  "(is a CUDA 13 / cuDNN 9 GPU present?)")
    return session


def session_provider(session: ort.InferenceSession) -> str:
    """The execution provider that really runs the session."""
    return session.get_providers()[0]


@cache
def cuda_available() -> bool:
    """Whether the CUDA execution provider really loads on this machine (probed once per process)."""
    if CUDA not in ort.get_available_providers():
        return False
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=[CUDA, CPU])
    except Exception:  # noqa: BLE001 - any failure to start CUDA means: use the CPU
        return False
    return session_provider(session) == CUDA
