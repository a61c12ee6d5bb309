"""hpcd: the Python client of the hpcd compute daemon.

    import numpy as np, hpcd

    with hpcd.connect(arena=2 << 30) as c:      # socket=PATH, else $HPCD_SOCKET, else /tmp/hpcd.sock
        A = c.empty((8000, 8000))                # numpy.ndarray in the shared arena ("f8", or dtype="f4")
        A[:] = np.random.rand(8000, 8000)
        x = c.asarray(np.random.rand(8000))      # a copy in the arena (an arena array is returned as is)
        y = c.matvec(A, x)                       # result: numpy.ndarray in the arena
        C = c.matmul(A, c.empty((8000, 100)), backend="omp")
        s = c.dot(x, x); t = c.sum(x)            # Python floats
        c.axpy(2.0, x, y)                        # y <- 2.0 * x + y, in place; returns y
        f = c.submit("matvec", A, x, backend="pool")   # concurrent.futures.Future
        ys = c.map("dot", [(x, x), (y, y)])      # a list, in order; the jobs in flight together
        y, tl = c.matvec(A, x, backend="pool", timeline=True)   # tl: numpy structured array
        print(c.status()); print(c.backends()); c.reload()

Operands in the client's arena travel with zero copies; other arrays are copied
into the arena for the call. A bad operand raises TypeError or ValueError naming
it (A, B, x, y); every failure of the daemon or of a job raises hpcd.Error, an
OSError with errno set and the sentence hpcrun would print.

Operands kept on a backend across jobs (mpi ranks, the opencl device):
`A = c.resident(A)` marks A, later jobs reuse the backend's copy, and
`c.touch(A)` after changing A in place says it must be sent again; see
Client.resident.

The client library is libhpc.so, found in the checkout's bazel-bin, or at
$HPCD_LIBHPC, or where it is installed.
"""

from ._client import (Client, Error, TIMELINE_RECS, backends, connect, reload, status,
                      timeline_dtype)
from . import _lib

__all__ = ["Client", "Error", "connect", "status", "backends", "reload", "timeline_dtype",
           "TIMELINE_RECS"]
__version__ = "0.1.0"
#: The libhpc.so this package loaded.
libhpc_path = _lib.path
