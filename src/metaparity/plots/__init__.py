"""metaparity.plots.forest."""
