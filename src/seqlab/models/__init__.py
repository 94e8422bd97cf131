"""Recurrent models: encoders, task heads and the registry that builds them from config."""
