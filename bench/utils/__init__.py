"""Utilities without domain knowledge: seeded draws, chunking, strict JSON, atomic files, progress bars, cost measurement."""
