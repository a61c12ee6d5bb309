# The example of SPEC.md's "Python client", unchanged (test_client.test_spec_example
# runs it against a daemon with omp and pool backends, found by $HPCD_SOCKET).
import numpy as np, hpcd

with hpcd.connect(arena=2 << 30) as c:      # socket=PATH, else $HPCD_SOCKET, else /tmp/hpcd.sock
    A = c.empty((8000, 8000))                # numpy.ndarray whose memory is the shared arena ("f8", or dtype="f4")
    A[:] = np.random.rand(8000, 8000)
    x = c.asarray(np.random.rand(8000))      # a copy in the arena; an array already in this client's arena is returned as is
    B = c.empty((8000, 100))
    y = c.matvec(A, x)                       # result: numpy.ndarray in the arena, dtype of the operands
    C = c.matmul(A, B, backend="omp")        # backend= names the instance; default: the daemon's default
    s = c.dot(x, x); t = c.sum(x)            # Python floats
    c.axpy(2.0, x, y)                        # y <- 2.0 * x + y, in place (also for a y outside the arena); returns y
    f = c.submit("matvec", A, x, backend="pool")       # concurrent.futures.Future; errors surface from f.result()
    ys = c.map("dot", [(x, x), (y, y)])      # a list, in order; the jobs are in flight together
    y, tl = c.matvec(A, x, backend="pool", timeline=True)
    print(c.status()); print(c.backends()); c.reload()      # str, as hpcrun prints them; reload raises when refused
