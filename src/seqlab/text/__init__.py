"""Tokenizers, vocabularies, encoding and length-bucketed batching."""
