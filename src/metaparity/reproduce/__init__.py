"""metaparity.reproduce.pipeline."""
