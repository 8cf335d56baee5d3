"""Sub-JHMDB builder (``sub_jhmdb``)."""
