"""seqlab: a reproducible MLOps pipeline for recurrent sequence models."""

__version__ = "0.1.0"
