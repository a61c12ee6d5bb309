"""The lecture's distributed matvec with mpi4py, timed: rank 0 holds A and x;
every call scatters A's row blocks (MPI Scatter), broadcasts x, each rank
multiplies its block, and y is gathered on rank 0. Also timed: the same
without the scatter of A (each rank keeps its block: "compute alone" of the
lecture, with the Bcast of x and the Gather of y).

    mpirun -n NP python3 bench/mpi4py_matvec.py N REPS

Prints one line: N, first scatter+matvec, repeated (median), compute alone
(median), in ms. N must divide by NP. Run by //bench:mpi_hosts_bench.
"""
import sys
import time

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
n, reps = int(sys.argv[1]), int(sys.argv[2])
rows = n // size
A = np.random.default_rng(1).random((n, n)) if rank == 0 else None
x = np.random.default_rng(2).random(n) if rank == 0 else np.empty(n)
local_A = np.empty((rows, n))
y = np.empty(n) if rank == 0 else None


def matvec(scatter):
    if scatter:
        comm.Scatter(A, local_A, root=0)
    comm.Bcast(x, root=0)
    local_y = local_A @ x
    comm.Gather(local_y, y, root=0)


def timed(scatter):
    comm.Barrier()
    t0 = time.perf_counter()
    matvec(scatter)
    comm.Barrier()
    return (time.perf_counter() - t0) * 1e3


first = timed(True)
again = sorted(timed(True) for _ in range(reps))[reps // 2]
alone = sorted(timed(False) for _ in range(reps))[reps // 2]
if rank == 0:
    ok = np.allclose(y, A @ x)
    print(f"mpi4py {n} {first:.2f} {again:.2f} {alone:.2f} {'ok' if ok else 'WRONG'}", flush=True)
