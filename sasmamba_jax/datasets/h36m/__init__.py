"""Human3.6M builder (``h36m``)."""
