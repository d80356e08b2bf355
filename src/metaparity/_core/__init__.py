"""metaparity._core."""
