"""Lecture, OpenCL: the dense f32 matvec at n = 10000 on an OpenCL device, its
elapsed time against NumPy's, and the max deviation, as the lecture prints. On
hpcd: the `opencl` backend (instance "cl"; PoCL's CPU device in CI), with A kept
on the device across calls (c.resident). --small uses n = 2000.

    PYTHONPATH=python python3 examples/lecture/opencl_matvec.py [--small] [--out DIR]
"""

import time

import lecture_common as lc
import numpy as np
import hpcd

BACKEND = "cl"


def main():
    args = lc.parse(__doc__)
    n = 2000 if args.small else 10000
    lc.reference_banner()
    with hpcd.connect(args.socket, arena=(n * n + 2 * n) * 4 + (8 << 20)) as c:
        A = c.empty((n, n), dtype="f4")
        A[:] = np.random.rand(n, n).astype(np.float32)
        A = c.resident(A)                     # kept on the device between calls
        x = c.asarray(np.random.rand(n).astype(np.float32))
        t = time.perf_counter()
        y = c.matvec(A, x, backend=BACKEND)
        first = time.perf_counter() - t
        elapsed, y = lc.best_of(lambda: c.matvec(A, x, backend=BACKEND), 5)
        elapsed_np, y_np = lc.best_of(lambda: A.dot(x), 5)
        dev = float(np.max(np.abs(y - y_np)))
        print("n = %d, f32" % n)
        print("OpenCL (hpcd %r): first call %.6f s (A sent to the device), then %.6f s"
              % (BACKEND, first, elapsed))
        print("NumPy: %.6f s" % elapsed_np)
        print("max deviation: %g" % dev)
        assert dev <= 1e-3 * float(np.max(np.abs(y_np)))
        for line in c.backends().splitlines():
            if line.startswith(BACKEND + "\t"):
                print("device:", line.split("\t", 1)[1])
    plt = lc.pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["hpcd opencl\nfirst call", "hpcd opencl", "numpy"], [first, elapsed, elapsed_np])
    ax.set_ylabel("seconds")
    ax.set_title("f32 matvec, n = %d; max deviation %.2g" % (n, dev))
    lc.savefig(fig, args, "opencl_matvec.png")


if __name__ == "__main__":
    main()
