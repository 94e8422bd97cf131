"""Stage baseline@<task>: the non-neural bar every RNN must clear.

Classify tasks: char n-gram TF-IDF + logistic regression. Tag tasks: the most frequent tag of each
word, or for b/m/e/s segmentation forward maximum matching with the train split's dictionary.
Generating tasks (lm, condlm): an interpolated character n-gram model, one per condition for condlm.
Sequence to sequence: none is fitted yet; the report compares G2P with published figures instead.
"""

from seqlab.config import GENERATIVE, load_params
from seqlab.entry import run_entry
from seqlab.io import write_json
from seqlab.paths import Layout, repo_root
from seqlab.report.baseline import train_baseline
from seqlab.report.lm_baseline import train_text_baseline
from seqlab.report.tag_baseline import train_tag_baseline
from seqlab.text.vocab import TOKENS_FILE, Vocab


def main(task: str) -> None:
    """Fit and score the baseline on TASK's prepared splits."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    config = params.task(task)
    if config.structure in GENERATIVE:
        vocab = Vocab.load(layout.vocab(task) / TOKENS_FILE)
        metrics = train_text_baseline(layout.prepared(task), vocab, config.structure == "condlm", config.max_len)
    elif config.structure == "seq2seq":
        metrics = {"model": None, "note": "no baseline is fitted for seq2seq tasks; for G2P the report lists "
                                          "published results on CMUdict"}
    elif config.structure == "tag":
        metrics = train_tag_baseline(layout.prepared(task), config.labels, config.tag_scheme)
    else:
        metrics = train_baseline(layout.prepared(task), config.labels, params.seed)
    write_json(layout.baseline(task), metrics)


if __name__ == "__main__":
    run_entry(main)
