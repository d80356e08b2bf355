"""metaparity.analysis."""
