"""nbkeras.kernels.cuda: numba.cuda twins of the CPU kernels (same module names, function names and meanings).

Each public function here takes the arguments its CPU twin takes -- device arrays where the CPU kernel takes NumPy
arrays, the same Python scalars -- and launches one or more ``@kernel``-declared CUDA kernels on them (see
``_launch``). Importing this package imports numba.cuda; ``import nbkeras`` never does unless the CUDA device is
asked for.
"""
