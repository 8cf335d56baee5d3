"""MPI-INF-3DHP builder (``mpi_inf_3dhp``)."""
