"""The generation engine: turns a DataDesignerConfig into a dataset on disk, batch by batch (knows no cache)."""
