"""Inference shared by evaluation, the CLI and the server: backends, sessions and providers."""
