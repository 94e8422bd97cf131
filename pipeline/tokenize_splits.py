"""Stage tokenize@<task>: prepared text -> token lists (characters or jieba words; seq2seq: both sides).

Named tokenize_splits.py because a script named tokenize.py would shadow the standard library.
"""

import logging

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.io import atomic_path
from seqlab.paths import SPLITS, Layout, repo_root
from seqlab.text.tokenizers import tokenize_file


def main(task: str) -> None:
    """Tokenize TASK's splits with the tokenizer set in params.yaml."""
    layout = Layout(repo_root())
    config = load_params(layout.root / "params.yaml").task(task)
    with atomic_path(layout.tokenized(task)) as staging:
        staging.mkdir()
        for split in SPLITS:
            rows = tokenize_file(layout.prepared(task) / f"{split}.jsonl", staging / f"{split}.jsonl", config.tokenizer,
                                 config.target_tokenizer if config.structure == "seq2seq" else None)
            logging.getLogger(__name__).info("%s/%s: %d rows tokenized (%s)", task, split, rows, config.tokenizer)


if __name__ == "__main__":
    run_entry(main)
