"""nbkeras.kernels: pure compute over NumPy arrays (never imports nbkeras)."""
