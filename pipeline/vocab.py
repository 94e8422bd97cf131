"""Stage vocab@<task>: the token and character vocabularies (train split only) and the label list."""

import logging

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.io import atomic_path, write_json
from seqlab.paths import Layout, repo_root
from seqlab.text.vocab import vocabularies_of_split


def main(task: str) -> None:
    """Build TASK's vocabulary from its tokenized train split."""
    layout = Layout(repo_root())
    config = load_params(layout.root / "params.yaml").task(task)
    vocabularies = vocabularies_of_split(layout.tokenized(task) / "train.jsonl", config.vocab)
    with atomic_path(layout.vocab(task)) as staging:
        staging.mkdir()
        for name, vocabulary in vocabularies.items():
            vocabulary.save(staging / name)
        write_json(staging / "labels.json", config.labels)
    sizes = ", ".join(f"{name}: {len(vocabulary)}" for name, vocabulary in vocabularies.items())
    logging.getLogger(__name__).info("%s: vocabularies %s; %d labels", task, sizes, len(config.labels))

if __name__ == "__main__":
    run_entry(main)
