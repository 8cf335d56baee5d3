"""The library version (a leaf: recorded in exported models and checkpoints)."""

__version__ = "0.1.0"
