"""Every op x dtype x backend against NumPy, within the textbook error bound.

The bound: a sum of n terms computed in floating point with unit roundoff u
differs from the exact sum by at most gamma_n * sum|terms|, gamma_n = n u / (1 - n u)
(Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 3.1). So
  matvec  |y_i - (Ax)_i|   <= gamma_n (|A||x|)_i
  matmul  |C_ij - (AB)_ij| <= gamma_k (|A||B|)_ij
  dot     |s - x.y|        <= gamma_n sum|x_i y_i|
  sum     |s - sum x|      <= gamma_n sum|x_i|
  axpy    |y_i - (a x_i + y_i)| <= gamma_2 (|a x_i| + |y_i|)
plus u |exact| for rounding the result to its type, with u = 2^-53 for f64 and
2^-24 for f32, the exact value computed in long double from the same (rounded)
operands. Backends may accumulate f32 in f64 (serial does); the bound is the f32
one either way.
"""

import numpy as np
import pytest

import hpcd

BACKENDS = ["serial", "omp", "pool", "pools", "mpi", "cl"]
DTYPES = ["f8", "f4"]
U = {"f8": 2.0 ** -53, "f4": 2.0 ** -24}
LD = np.longdouble


def gamma(n, u):
    return n * u / (1 - n * u)


def check(got, exact, scale, n, dtype):
    u = U[dtype]
    bound = gamma(max(n, 1), u) * scale + u * np.abs(exact)
    err = np.abs(np.asarray(got, LD) - exact)
    assert np.all(err <= bound * 1.0001 + np.finfo(np.float64).tiny), (
        "max error %g, bound %g" % (np.max(err - bound), np.min(bound)))


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(12)


SHAPES = {"matvec": [(37, 53), (300, 301), (0, 5), (5, 0)],
          "matmul": [(19, 23, 17), (64, 65, 33), (0, 3, 4), (3, 0, 4)],
          "dot": [1, 1000, 100003, 0],
          "sum": [1, 999, 100003, 0],
          "axpy": [1, 1000, 100003, 0]}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matvec(client, rng, backend, dtype):
    for m, n in SHAPES["matvec"]:
        A = client.empty((m, n), dtype)
        A[:] = rng.uniform(-1, 1, (m, n))
        x = rng.uniform(-1, 1, n).astype(dtype)  # outside the arena: copied for the call
        y = client.matvec(A, x, backend=backend)
        assert y.shape == (m,) and y.dtype == np.dtype(dtype)
        exact = A.astype(LD) @ x.astype(LD)
        check(y, exact, np.abs(A.astype(LD)) @ np.abs(x.astype(LD)), n, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul(client, rng, backend, dtype):
    for m, k, n in SHAPES["matmul"]:
        A = client.asarray(rng.uniform(-1, 1, (m, k)).astype(dtype))
        B = client.asarray(rng.uniform(-1, 1, (k, n)).astype(dtype))
        C = client.matmul(A, B, backend=backend)
        assert C.shape == (m, n) and C.dtype == np.dtype(dtype)
        exact = A.astype(LD) @ B.astype(LD)
        check(C, exact, np.abs(A.astype(LD)) @ np.abs(B.astype(LD)), k, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dot(client, rng, backend, dtype):
    for n in SHAPES["dot"]:
        x = client.asarray(rng.uniform(-1, 1, n).astype(dtype))
        y = client.asarray(rng.uniform(-1, 1, n).astype(dtype))
        s = client.dot(x, y, backend=backend)
        assert type(s) is float
        exact = np.sum(x.astype(LD) * y.astype(LD))
        check(s, exact, np.sum(np.abs(x.astype(LD) * y.astype(LD))), n, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sum(client, rng, backend, dtype):
    for n in SHAPES["sum"]:
        x = client.asarray(rng.uniform(-1, 1, n).astype(dtype))
        s = client.sum(x, backend=backend)
        assert type(s) is float
        check(s, np.sum(x.astype(LD)), np.sum(np.abs(x.astype(LD))), n, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_axpy(client, rng, backend, dtype):
    for n in SHAPES["axpy"]:
        x = client.asarray(rng.uniform(-1, 1, n).astype(dtype))
        y0 = rng.uniform(-1, 1, n).astype(dtype)
        for y in (client.asarray(y0), y0.copy()):  # in the arena, and outside it
            alpha = -1.75
            r = client.axpy(alpha, x, y, backend=backend)
            assert r is y
            a = LD(np.dtype(dtype).type(alpha))
            exact = a * x.astype(LD) + y0.astype(LD)
            check(y, exact, np.abs(a * x.astype(LD)) + np.abs(y0.astype(LD)), 2, dtype)


def test_default_backend_and_numpy_agree(client, rng):
    """The plain calls of the SPEC against NumPy itself, on the default backend."""
    A = client.asarray(rng.random((50, 40)))
    x = client.asarray(rng.random(40))
    B = client.asarray(rng.random((40, 30)))
    np.testing.assert_allclose(client.matvec(A, x), A.dot(x), rtol=1e-13)
    np.testing.assert_allclose(client.matmul(A, B), A.dot(B), rtol=1e-13)
    assert client.dot(x, x) == pytest.approx(x.dot(x), rel=1e-14)
    assert client.sum(x) == pytest.approx(x.sum(), rel=1e-14)
