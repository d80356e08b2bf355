"""metaparity.models."""
