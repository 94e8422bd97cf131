"""Raw data sources, preparation (dedup and split) and data expectations."""
