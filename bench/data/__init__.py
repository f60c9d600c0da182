"""Data sets: the glaucoma folder layout, its CSV manifest and the synthetic fundus generator."""
