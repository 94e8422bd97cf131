"""Quality metrics and latency measurement."""
