"""The RNN Gradient Lab web service."""
import os

# Before NumPy is imported: one BLAS thread per training thread (see app/blas.py for the measurement).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
