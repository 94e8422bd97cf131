"""`seqlab bench`: run the chosen benchmark sections on the pipeline's outputs and write the reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from seqlab.bench.cells import bench_cells
from seqlab.bench.generation import bench_generation
from seqlab.bench.inference import bench_inference
from seqlab.bench.kernels import bench_kernels
from seqlab.bench.machine import machine_info
from seqlab.bench.peers import bench_peers
from seqlab.bench.report import write_reports
from seqlab.bench.server import bench_server
from seqlab.bench.stages import bench_stages
from seqlab.bench.training import bench_training
from seqlab.config import Params
from seqlab.paths import Layout

SECTIONS: dict[str, Callable[[Layout, Params, Path], dict[str, Any]]] = {
    "inference": lambda layout, params, bundles: bench_inference(layout, params),
    "cells": lambda layout, params, bundles: bench_cells(layout, params),
    "generation": lambda layout, params, bundles: bench_generation(layout, params),
    "training": lambda layout, params, bundles: bench_training(layout, params),
    "kernels": lambda layout, params, bundles: bench_kernels(params.bench.kernels),
    "peers": bench_peers,
    "stages": lambda layout, params, bundles: bench_stages(layout, params),
    "server": lambda layout, params, bundles: bench_server(bundles, layout, params.bench.server,
                                                           params.generation.prompts),
}
"""Section name -> what measures it, from the repository layout, params and the bundles folder."""


def run_bench(layout: Layout, params: Params, bundles: Path, sections: list[str], out_dir: Path,
              log: Callable[[str], None] = print) -> tuple[Path, Path]:
    """Measure ``sections`` (in order) and write bench.json and bench.md into ``out_dir``; their paths."""
    unknown = [name for name in sections if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown benchmark section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if params.bench.threads:
        torch.set_num_threads(params.bench.threads)
    results: dict[str, Any] = {"created": datetime.now(UTC).isoformat(timespec="seconds"),
                               "machine": machine_info(),
                               "threads": torch.get_num_threads(), "sections": {}}
    for name in sections:
        log(f"measuring {name} ...")
        results["sections"][name] = SECTIONS[name](layout, params, bundles)
    return write_reports(results, out_dir)
