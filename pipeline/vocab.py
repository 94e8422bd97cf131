"""Stage vocab@<task>: the token and character vocabularies (train split only) and the label list."""

import logging

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.io import atomic_path, read_jsonl, write_json
from seqlab.paths import Layout, repo_root
from seqlab.text.encoding import CHARS_FILE, PAIRS_FILE
from seqlab.text.tokenizers import next_pairs
from seqlab.text.vocab import Vocab


def main(task: str) -> None:
    """Build TASK's vocabulary from its tokenized train split."""
    layout = Layout(repo_root())
    config = load_params(layout.root / "params.yaml").task(task)
    train_tokens = [row["tokens"] for _, row in read_jsonl(layout.tokenized(task) / "train.jsonl")]
    vocab = Vocab.build(train_tokens, config.vocab.min_freq, config.vocab.max_size)
    # The characters of the train tokens, for models that read each word's characters (taggers).
    chars = Vocab.build((list(token) for tokens in train_tokens for token in tokens), config.vocab.min_freq)
    # Each token joined with the next (character bigrams), for taggers that read them.
    pairs = Vocab.build((next_pairs(tokens) for tokens in train_tokens), config.vocab.min_freq, config.vocab.max_size)
    with atomic_path(layout.vocab(task)) as staging:
        staging.mkdir()
        vocab.save(staging / "tokens.json")
        chars.save(staging / CHARS_FILE)
        pairs.save(staging / PAIRS_FILE)
        write_json(staging / "labels.json", config.labels)
    logging.getLogger(__name__).info("%s: vocabulary of %d tokens (%d characters, %d pairs), %d labels", task,
                                     len(vocab), len(chars), len(pairs), len(config.labels))


if __name__ == "__main__":
    run_entry(main)
