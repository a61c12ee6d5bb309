"""Lecture, OpenMP: matvec over N_vec = arange(25, 2000, 25) * N_core on OpenMP
threads against numpy.dot, the log-log plot of time against N, and the speed-up
over NumPy (the lecture found 3.0 on 12 cores). On hpcd: the `openmp` backend
(instance "omp"), c.matvec(A, x, backend="omp") on arena arrays, against
numpy.dot on the same arrays. --small cuts the sizes down for CI.

    PYTHONPATH=python python3 examples/lecture/openmp_matvec.py [--small] [--out DIR]
"""

import os
import time

import lecture_common as lc
import numpy as np
import hpcd

BACKEND = "omp"


def main():
    args = lc.parse(__doc__)
    n_core = len(os.sched_getaffinity(0))
    N_vec = np.arange(25, 2000, 25) * n_core
    if args.small:
        N_vec = N_vec[N_vec <= 1000][::4]
    lc.reference_banner()
    nmax = int(N_vec.max())
    times_np, times_omp = [], []
    with hpcd.connect(args.socket, arena=(nmax * nmax + 2 * nmax) * 8 + (8 << 20)) as c:
        print("%8s %12s %12s %8s" % ("N", "numpy [s]", "hpcd omp [s]", "speed-up"))
        for N in N_vec:
            A = c.empty((N, N))
            A[:] = np.random.rand(N, N)
            x = c.asarray(np.random.rand(N))
            y = c.empty(N)
            reps = 3 if N > 2000 else 10
            t_np, y_np = lc.best_of(lambda: A.dot(x), reps)
            # OpenBLAS's threads spin for a while after a call: let them sleep
            # before timing hpcd, or they take the cores from its threads.
            time.sleep(0.1)
            t_omp, _ = lc.best_of(lambda: c.matvec(A, x, backend=BACKEND, out=y), reps)
            del _  # y again: the arena must have room for the next, larger N
            assert np.allclose(y, y_np)
            times_np.append(t_np)
            times_omp.append(t_omp)
            print("%8d %12.6f %12.6f %8.2f" % (N, t_np, t_omp, t_np / t_omp))
            del A, x, y
    speedup = np.array(times_np) / np.array(times_omp)
    print("speed-up over numpy.dot at the largest N (%d): %.2f on %d cores" % (
        nmax, speedup[-1], n_core))
    plt = lc.pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    ax0.loglog(N_vec, times_np, "o-", label="numpy.dot")
    ax0.loglog(N_vec, times_omp, "s-", label="hpcd openmp (%d cores)" % n_core)
    ax0.set_xlabel("N")
    ax0.set_ylabel("seconds per matvec")
    ax0.legend()
    ax1.semilogx(N_vec, speedup, "o-")
    ax1.axhline(1.0, color="gray", linestyle=":")
    ax1.set_xlabel("N")
    ax1.set_ylabel("speed-up over numpy.dot")
    lc.savefig(fig, args, "openmp_matvec.png")


if __name__ == "__main__":
    main()
