"""Lecture, MPI: the matrix-vector product y = A.x with N = 16, A and x read from
random-matrix.npy and random-vector.npy (written with numpy.save), distributed
over the ranks by rows, and the sum of 128 elements by a reduction; printed
against NumPy as the lecture does. On hpcd: the `mpi` backend (mpirun -n 2),
called as c.matvec(A, x, backend="mpi") and c.sum(v, backend="mpi").

    PYTHONPATH=python python3 examples/lecture/mpi_matvec.py [--small] [--out DIR]
"""

import os

import lecture_common as lc
import numpy as np
import hpcd

BACKEND = "mpi"
N = 16


def ranks(c):
    for line in c.backends().splitlines():
        if line.split("\t")[0] == BACKEND:
            for word in line.replace("\t", " ").split():
                if word.startswith("np="):
                    return int(word[3:])
    return 2


def main():
    args = lc.parse(__doc__)
    mpath = os.path.join(args.out, "random-matrix.npy")
    vpath = os.path.join(args.out, "random-vector.npy")
    np.save(mpath, np.random.rand(N, N))
    np.save(vpath, np.random.rand(N))
    with hpcd.connect(args.socket) as c:
        A = c.asarray(np.load(mpath))
        x = c.asarray(np.load(vpath))
        y = A.dot(x)
        y_mpi = c.matvec(A, x, backend=BACKEND)
        print("matvec N = %d on %r" % (N, BACKEND))
        print("sum(y - y_mpi) =", np.sum(y - y_mpi))
        data = c.asarray(np.arange(128, dtype=np.float64))
        s = c.sum(data, backend=BACKEND)
        print("sum =", s)
        print("numpy sum =", np.sum(data))
        assert abs(np.sum(y - y_mpi)) < 1e-12 and s == np.sum(data)
        nranks = ranks(c)
    plt = lc.pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8, 3.5))
    ax0.imshow(np.asarray(A), cmap="viridis")
    rows = np.array_split(np.arange(N), nranks)
    for r, part in enumerate(rows):
        ax0.axhline(part[-1] + 0.5, color="white")
        ax0.text(N - 0.5, part.mean(), " rank %d" % r, va="center")
    ax0.set_title("A: rows scattered over %d ranks" % nranks)
    ax1.plot(y, "o", label="numpy A.dot(x)")
    ax1.plot(np.asarray(y_mpi), "x", label="hpcd mpi")
    ax1.legend()
    ax1.set_title("y")
    lc.savefig(fig, args, "mpi_matvec.png")


if __name__ == "__main__":
    main()
