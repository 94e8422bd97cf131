"""Stage validate@<task>: check the prepared splits with great-expectations; fail on any violation.

Writes reports/validation/<task>.json and the Data Docs site <task>_docs/ even when the data fail,
so the failures can be read there; then exits 1 naming each failed expectation with example lines.
"""

import logging

from seqlab.config import load_params
from seqlab.data.expectations import validate_splits
from seqlab.data.parallel import stress_stripped
from seqlab.data.prepare import read_prepared
from seqlab.entry import StageError, run_entry
from seqlab.io import write_json
from seqlab.paths import Layout, repo_root


def main(task: str) -> None:
    """Validate the prepared splits of TASK against the checks in params.yaml."""
    layout = Layout(repo_root())
    config = load_params(layout.root / "params.yaml").task(task)
    folder = layout.prepared(task)
    splits = read_prepared(folder)
    report = validate_splits(splits, config.labels, config.checks, layout.validation_docs(task), config.structure,
                             target_tokenizer=config.target_tokenizer, no_stress_digits=stress_stripped(config))
    write_json(layout.validation_report(task), report.to_dict())
    if not report.success:
        where = f"full report: {layout.validation_report(task)}, Data Docs: {layout.validation_docs(task)}/index.html"
        raise StageError(f"{report.failure_message()}\n{where}")
    logging.getLogger(__name__).info("validated %s: %s rows, all checks met", task, report.rows)


if __name__ == "__main__":
    run_entry(main)
