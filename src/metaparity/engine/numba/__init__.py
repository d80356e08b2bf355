"""metaparity.engine.numba."""
