"""metaparity.effects."""
