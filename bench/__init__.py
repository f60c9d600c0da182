"""Benchmark harness for explanation methods of image classifiers."""

__version__ = "0.1.0"
