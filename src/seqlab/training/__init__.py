"""The training loop, experiment tracking and what ties a task's data to the loop."""
