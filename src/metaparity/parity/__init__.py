"""metaparity.parity.compare."""
