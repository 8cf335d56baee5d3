"""Thin entry points, run as ``python -m experiments.NAME``."""
