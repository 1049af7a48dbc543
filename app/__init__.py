"""The RNN Gradient Lab web service.

BLAS threads are limited at runtime by ``app.blas.limit_blas_threads`` (threadpoolctl) when the run
manager starts, not with OPENBLAS/OMP/MKL_NUM_THREADS set on import: those only worked if ``app`` was
imported before NumPy, and silently made every other library in the process (e.g. PyTorch in a notebook
or the test process) single-threaded too.
"""
