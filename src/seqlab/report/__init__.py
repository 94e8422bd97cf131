"""The non-neural baseline and the cross-run report: summary tables, plots and champion choice."""
