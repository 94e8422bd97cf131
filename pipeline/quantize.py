"""Stage quantize@<run>: int8 (dynamic, for the CPU) and float16 (for CUDA) copies of the ONNX model."""

import logging

from seqlab.entry import run_entry
from seqlab.export.onnx_export import op_counts
from seqlab.export.quantize import convert_fp16, quantize_int8
from seqlab.io import atomic_path, write_json
from seqlab.paths import Layout, repo_root


def main(run: str) -> None:
    """Quantize RUN's exported ONNX model and record sizes and op types."""
    layout = Layout(repo_root())
    source = layout.onnx_model(run)
    with atomic_path(layout.quantized_dir(run)) as staging:
        staging.mkdir()
        quantize_int8(source, staging / "model.int8.onnx")
        convert_fp16(source, staging / "model.fp16.onnx")
        files = {"fp32": source, "int8": staging / "model.int8.onnx", "fp16": staging / "model.fp16.onnx"}
        summary = {
            "sizes_bytes": {name: path.stat().st_size for name, path in files.items()},
            "ops": {name: op_counts(path) for name, path in files.items()},
        }
        write_json(staging / "quantize.json", summary)
    sizes = summary["sizes_bytes"]
    logging.getLogger(__name__).info("%s: fp32 %.2f MB, int8 %.2f MB (%.2fx smaller), fp16 %.2f MB", run,
                                     sizes["fp32"] / 1e6, sizes["int8"] / 1e6, sizes["fp32"] / sizes["int8"],
                                     sizes["fp16"] / 1e6)


if __name__ == "__main__":
    run_entry(main)
