"""Config models: columns, samplers, processors, seeds, models, run settings, and the builder."""
