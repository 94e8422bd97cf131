"""Stage quantize@<run>: int8 (dynamic, for the CPU) and float16 (for CUDA) copies of the ONNX model
(a seq2seq model's encoder graph too)."""

import logging
from pathlib import Path

from seqlab.entry import run_entry
from seqlab.export.quantize import convert_fp16, op_counts, quantize_int8
from seqlab.inference.bundle import ENCODER_FILE, ENCODER_FILES, MODEL_FILES
from seqlab.io import atomic_path, write_json
from seqlab.paths import Layout, repo_root


def main(run: str) -> None:
    """Quantize RUN's exported ONNX model and record sizes and op types."""
    layout = Layout(repo_root())
    graphs = [MODEL_FILES]
    if (layout.onnx_dir(run) / ENCODER_FILE).is_file():
        graphs.append(ENCODER_FILES)
    with atomic_path(layout.quantized_dir(run)) as staging:
        staging.mkdir()
        files: dict[str, list[Path]] = {"fp32": [], "int8": [], "fp16": []}
        for names in graphs:
            source = layout.onnx_dir(run) / names["fp32"]
            quantize_int8(source, staging / names["int8"])
            convert_fp16(source, staging / names["fp16"])
            files["fp32"].append(source)
            files["int8"].append(staging / names["int8"])
            files["fp16"].append(staging / names["fp16"])
        summary = {  # sizes add up every graph of a precision; ops are the main (decoder-step) graph's
            "sizes_bytes": {name: sum(path.stat().st_size for path in paths) for name, paths in files.items()},
            "ops": {name: op_counts(paths[0]) for name, paths in files.items()},
        }
        if len(graphs) > 1:
            summary["encoder_ops"] = {name: op_counts(paths[1]) for name, paths in files.items()}
        write_json(staging / "quantize.json", summary)
    sizes = summary["sizes_bytes"]
    logging.getLogger(__name__).info("%s: fp32 %.2f MB, int8 %.2f MB (%.2fx smaller), fp16 %.2f MB", run,
                                     sizes["fp32"] / 1e6, sizes["int8"] / 1e6, sizes["fp32"] / sizes["int8"],
                                     sizes["fp16"] / 1e6)


if __name__ == "__main__":
    run_entry(main)
