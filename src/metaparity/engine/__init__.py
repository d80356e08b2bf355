"""metaparity.engine."""
