"""Synthetic motion builder (``synthetic_motion``)."""
