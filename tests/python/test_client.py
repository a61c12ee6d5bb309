"""The Python client's contract (SPEC, "Python client") against the real daemon:
arena arrays, every bad input of the SPEC's list, futures and map under
concurrency, timelines, resident operands, control requests, a killed client."""

import concurrent.futures
import errno
import gc
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import hpcd
from conftest import BACKENDS, Daemon, REPO

PY = [sys.executable]


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(REPO, "python")
    return env


# ---- arrays in the arena ---------------------------------------------------------


def test_empty_and_asarray_live_in_the_arena(client):
    A = client.empty((10, 20))
    assert isinstance(A, np.ndarray) and A.dtype == np.float64 and A.shape == (10, 20)
    assert A.flags.c_contiguous and A.flags.writeable
    B = client.empty(7, dtype="f4")
    assert B.dtype == np.float32
    assert client.asarray(A) is A              # already in this arena: as is
    x = np.arange(5.0)
    xa = client.asarray(x)
    assert xa is not x and np.array_equal(xa, x)
    assert client.asarray(xa) is xa
    assert client.asarray([1, 2, 3]).dtype == np.float64


def test_results_are_arena_arrays_and_zero_copy(client):
    A = client.asarray(np.random.rand(30, 20))
    x = client.asarray(np.random.rand(20))
    y = client.matvec(A, x)
    assert client.asarray(y) is y              # the result is in the arena
    y2 = client.matvec(A, x, out=y)           # and can be written into it again
    assert y2 is y


def test_space_is_freed_when_arrays_and_views_are_gone(daemon):
    with hpcd.connect(daemon.socket, arena=1 << 20) as c:
        for _ in range(50):                    # 50 x 768 KiB through a 1 MiB arena
            a = c.empty(96 << 10)
            a[:] = 1.0
            v = a[10:20]
            del a
            gc.collect()
            b = None
            with pytest.raises(hpcd.Error):
                b = c.empty(96 << 10)          # the view keeps the first alive
            del v, b
        assert c.sum(c.asarray(np.ones(10))) == 10.0


def test_arrays_stay_valid_after_close(daemon):
    with hpcd.connect(daemon.socket) as c:
        x = c.asarray(np.arange(1000.0))
        y = c.matvec(c.asarray(np.eye(1000)), x)
    assert c.closed
    assert y.sum() == x.sum() == 499500.0      # still mapped
    y[:] = 2.0
    with pytest.raises(hpcd.Error) as e:
        c.sum(x)
    assert e.value.errno == errno.EBADF
    del x, y
    gc.collect()


# ---- bad inputs (the SPEC's list): the named exception, the client still usable ---


def still_usable(c):
    x = c.asarray(np.arange(4.0))
    assert c.dot(x, x) == 14.0


def test_wrong_dtype(client):
    with pytest.raises(TypeError, match=r"\bx\b"):
        client.sum(np.arange(5))               # int64
    with pytest.raises(TypeError, match=r"\bA\b"):
        client.matvec(np.ones((2, 2), np.float16), np.ones(2))
    with pytest.raises(TypeError):
        client.empty(3, dtype="i4")
    still_usable(client)


def test_mixed_dtypes(client):
    with pytest.raises(TypeError, match=r"\bx\b"):
        client.matvec(np.ones((2, 2)), np.ones(2, np.float32))
    with pytest.raises(TypeError, match=r"\bB\b"):
        client.matmul(np.ones((2, 2), np.float32), np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"\by\b"):
        client.dot(np.ones(3), np.ones(3, np.float32))
    with pytest.raises(TypeError, match=r"\by\b"):
        client.axpy(1.0, np.ones(3), np.ones(3, np.float32))
    still_usable(client)


def test_submit_reports_bad_operands_through_the_future(client):
    f = client.submit("matvec", np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match=r"\bx\b"):
        f.result(10)
    f = client.submit("sum", np.arange(3))
    with pytest.raises(TypeError, match=r"\bx\b"):
        f.result(10)
    still_usable(client)


def test_non_contiguous(client):
    A = client.asarray(np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"\bA\b"):
        client.matvec(A.T, np.ones(4))
    with pytest.raises(ValueError, match=r"\bx\b"):
        client.sum(A[:, 1])
    with pytest.raises(ValueError, match=r"\by\b"):
        client.dot(np.ones(2), np.ones(4)[::2])
    still_usable(client)


def test_wrong_shape(client):
    with pytest.raises(ValueError, match=r"\bx\b"):
        client.matvec(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match=r"\bA\b"):
        client.matvec(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match=r"\bB\b"):
        client.matmul(np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\by\b"):
        client.dot(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\bx\b"):
        client.sum(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\by\b"):
        client.axpy(2.0, np.ones(3), np.ones(4))
    still_usable(client)


def test_unknown_backend(client):
    for name in ("nonesuch", "x" * 40):
        with pytest.raises(hpcd.Error) as e:
            client.sum(np.ones(3), backend=name)
        assert e.value.errno == errno.ENOENT
        assert str(e.value) == "no backend named '%s' on the daemon" % name
    for name in ("nonesuch", "x" * 40):
        f = client.submit("sum", np.ones(3), backend=name)
        with pytest.raises(hpcd.Error, match=name):
            f.result(10)
    still_usable(client)


def test_no_daemon(tmp_path):
    path = str(tmp_path / "absent.sock")
    with pytest.raises(hpcd.Error) as e:
        hpcd.connect(path)
    assert e.value.errno in (errno.ENOENT, errno.ECONNREFUSED)
    assert isinstance(e.value, OSError)
    assert str(e.value) == ("cannot connect to hpcd at %s: No such file or directory "
                            "(is the daemon running?)" % path)
    with pytest.raises(hpcd.Error):
        hpcd.status(path)


def test_full_arena(daemon):
    with hpcd.connect(daemon.socket, arena=1 << 20) as c:
        with pytest.raises(hpcd.Error) as e:
            c.empty(1 << 20)                   # 8 MiB
        assert e.value.errno == errno.ENOMEM
        assert str(e.value) == ("the shared arena of 1048576 bytes has no room for the "
                                "array (8388608 bytes)")
        with pytest.raises(hpcd.Error, match=r"no room for x \(1600000 bytes\)"):
            c.sum(np.ones(200000))             # the copy of x does not fit
        still_usable(c)


def test_arena_larger_than_the_daemon_allows():
    d = Daemon({"serial": "plugin = serial"}, "max_arena_mb = 16")
    try:
        with pytest.raises(hpcd.Error) as e:
            hpcd.connect(d.socket, arena=64 << 20)
        assert e.value.errno == errno.E2BIG
        assert "max_arena_mb = 16" in str(e.value)   # the daemon's reason, named
        with hpcd.connect(d.socket, arena=8 << 20) as c:
            still_usable(c)
    finally:
        d.stop()


def test_limits_refuse_the_newcomer_with_a_reason():
    d = Daemon({"serial": "plugin = serial"},
               "max_arena_mb = 32\nmax_total_arena_mb = 40\nmax_clients = 2")
    try:
        with hpcd.connect(d.socket, arena=24 << 20) as a:
            with pytest.raises(hpcd.Error) as e:
                hpcd.connect(d.socket, arena=24 << 20)
            assert e.value.errno == errno.ENOMEM
            assert "max_total_arena_mb = 40" in str(e.value)
            with hpcd.connect(d.socket, arena=1 << 20) as b:
                with pytest.raises(hpcd.Error) as e:
                    hpcd.connect(d.socket, arena=1 << 20)
                assert e.value.errno == errno.EUSERS
                assert "max_clients = 2" in str(e.value)
                still_usable(b)
            still_usable(a)                      # those already served keep working
    finally:
        d.stop()


def test_use_after_close(daemon):
    c = hpcd.connect(daemon.socket)
    x = c.asarray(np.ones(3))
    c.close()
    c.close()                                  # idempotent
    for call in (lambda: c.sum(x), lambda: c.empty(3), lambda: c.asarray(x),
                 lambda: c.submit("sum", x), lambda: c.map("sum", [x]), c.status):
        with pytest.raises(hpcd.Error) as e:
            call()
        assert e.value.errno == errno.EBADF
    with hpcd.connect(daemon.socket) as c2:    # others unaffected
        still_usable(c2)


def test_forked_child_cannot_use_the_parents_client(client):
    x = client.asarray(np.ones(3))
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            client.sum(x)
            code = 1
        except hpcd.Error as e:
            code = 0 if e.errno == errno.EBADF and "connect again" in str(e) else 2
        finally:
            os._exit(code)
    _, st = os.waitpid(pid, 0)
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
    still_usable(client)


def test_job_error_sentence_is_hpcruns(client):
    # The output overlapping an input is refused by the daemon: hpcrun's sentence
    # is "OP failed: " + hpc_strerror's.
    y = client.asarray(np.ones(8))
    with pytest.raises(hpcd.Error) as e:
        client.matvec(client.asarray(np.ones((8, 8))), y, out=y)
    assert e.value.errno == errno.EINVAL
    assert str(e.value) == "matvec failed: the output overlaps an input"
    still_usable(client)


# ---- futures and map -----------------------------------------------------------------


def test_submit_returns_futures(client):
    A = client.asarray(np.random.rand(200, 100))
    x = client.asarray(np.random.rand(100))
    fs = [client.submit("matvec", A, x, backend=b) for b in ("serial", "omp", "pool", "mpi")]
    assert all(isinstance(f, concurrent.futures.Future) for f in fs)
    for f in concurrent.futures.as_completed(fs, timeout=60):
        np.testing.assert_allclose(f.result(), A @ x, rtol=1e-12)
    s = client.submit("sum", x).result(10)
    assert s == pytest.approx(x.sum())
    y = client.asarray(np.zeros(100))
    assert client.submit("axpy", 3.0, x, y).result(10) is y
    np.testing.assert_allclose(y, 3 * x)


def test_map_in_order(client):
    xs = [client.asarray(np.full(10, float(i))) for i in range(50)]
    assert client.map("sum", xs) == [10.0 * i for i in range(50)]
    assert client.map("dot", [(x, x) for x in xs], backend="omp") == \
        [10.0 * i * i for i in range(50)]
    x = xs[3]
    assert client.map("dot", [(x, x)] * 5000) == [90.0] * 5000   # > the ring's 1024
    A = client.asarray(np.random.rand(20, 10))
    ys = client.map("matvec", [(A, v) for v in np.random.rand(30, 10)], backend="pool")
    assert len(ys) == 30 and all(y.shape == (20,) for y in ys)
    assert client.map("sum", []) == []
    with pytest.raises(hpcd.Error, match="nonesuch"):
        client.map("sum", xs, backend="nonesuch")
    assert client.map("sum", xs[:2], backend="pools") == [0.0, 10.0]


def test_threads_share_one_client(client):
    """Threads mixing synchronous calls, futures and maps on one client."""
    A = client.asarray(np.random.rand(64, 32))
    x = client.asarray(np.random.rand(32))
    ref = A @ x
    errors = []

    def work(k):
        try:
            for i in range(60):
                b = ("serial", "omp", "pool")[(i + k) % 3]
                if i % 3 == 0:
                    np.testing.assert_allclose(client.matvec(A, x, backend=b), ref, rtol=1e-12)
                elif i % 3 == 1:
                    fs = [client.submit("dot", x, x, backend=b) for _ in range(20)]
                    assert all(f.result(30) == pytest.approx(x @ x) for f in fs)
                else:
                    assert client.map("sum", [x] * 100, backend=b) == [pytest.approx(x.sum())] * 100
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors[0]
    assert not any(t.is_alive() for t in ts)


def test_future_callbacks_may_call_the_client(client):
    x = client.asarray(np.arange(10.0))
    got = []
    done = threading.Event()

    def cb(f):
        got.append(client.sum(x))   # a synchronous call from the collector thread
        done.set()

    client.submit("dot", x, x).add_done_callback(cb)
    assert done.wait(10)
    assert got == [45.0]


CHILD = r"""
import sys, numpy as np, hpcd
k = int(sys.argv[1])
with hpcd.connect() as c:
    A = c.asarray(np.random.default_rng(k).random((100, 50)))
    x = c.asarray(np.ones(50))
    for i in range(100):
        y = c.matvec(A, x, backend=("omp", "pool", "serial")[i % 3])
        assert np.allclose(y, A.sum(axis=1)), i
    fs = [c.submit("sum", x) for _ in range(300)]
    assert all(f.result() == 50.0 for f in fs)
    assert c.map("dot", [(x, x)] * 2000) == [50.0] * 2000
print("ok", k)
"""


def test_processes_at_once(daemon):
    procs = [subprocess.Popen(PY + ["-c", CHILD, str(k)], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(3)]
    for k, p in enumerate(procs):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "ok %d" % k


KILLED = r"""
import sys, numpy as np, hpcd
with hpcd.connect() as c:
    A = c.asarray(np.random.rand(500, 500))
    x = c.asarray(np.random.rand(500))
    print("working", flush=True)
    while True:
        fs = [c.submit("matvec", A, x, backend=b) for b in ("pool", "omp", "serial")]
        c.map("sum", [x] * 100)
"""


def settled_clients(daemon):
    """The number of connected clients once earlier tests' disconnects are in."""
    last = daemon.clients_connected()
    for _ in range(100):
        time.sleep(0.1)
        now = daemon.clients_connected()
        if now == last:
            return now
        last = now
    return last


def test_killed_client_leaves_the_daemon_clean(daemon):
    with hpcd.connect(daemon.socket) as other:
        before = settled_clients(daemon)
        p = subprocess.Popen(PY + ["-c", KILLED], env=child_env(), stdout=subprocess.PIPE,
                             text=True)
        assert p.stdout.readline().strip() == "working"
        time.sleep(0.3)                        # mid-work
        assert daemon.clients_connected() == before + 1
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        deadline = time.monotonic() + 10
        while daemon.clients_connected() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon.clients_connected() <= before
        still_usable(other)                    # the other client is fine
        for b in ("pool", "omp", "mpi"):
            assert other.sum(other.asarray(np.ones(7)), backend=b) == 7.0
    with hpcd.connect(daemon.socket) as c:     # and newcomers too
        still_usable(c)


# ---- timelines ---------------------------------------------------------------------------


def test_timeline(client):
    A = client.asarray(np.random.rand(1000, 1000))
    x = client.asarray(np.random.rand(1000))
    for backend in ("pool", "pools"):
        y, tl = client.matvec(A, x, backend=backend, timeline=True)
        np.testing.assert_allclose(y, A @ x, rtol=1e-12)
        assert tl.dtype == hpcd.timeline_dtype
        assert tl.dtype.names == ("pid", "worker", "attempt", "flags", "chunk", "first",
                                  "count", "start_ns", "end_ns")
        assert len(tl) >= 2
        ok = tl[tl["flags"] & 1 == 0]
        assert ok["count"].sum() == 1000       # every row once
        assert set(tl["worker"]) <= {0, 1}
        # Static gives each worker its share; dynamic usually uses both (not
        # always on a loaded machine).
        assert len(set(tl["pid"])) == 2 if backend == "pools" else 1 <= len(set(tl["pid"])) <= 2
        assert np.all(tl["start_ns"] <= tl["end_ns"])
        assert np.all(tl["attempt"] >= 1)
    s, tl = client.sum(x, backend="pool", timeline=True)
    assert s == pytest.approx(x.sum()) and tl["count"].sum() == 1000
    y, tl = client.matvec(A, x, backend="serial", timeline=True)
    assert len(tl) == 0                        # a backend that does not split jobs


# ---- resident operands -------------------------------------------------------------------


def counter(text, backend, key):
    for line in text.splitlines():
        if line.startswith(backend + "\t"):
            for word in line.replace("\t", " ").split():
                if word.startswith(key + "="):
                    return int(word.split("=")[1])
    raise AssertionError("no %s= for %s in:\n%s" % (key, backend, text))


def test_resident_operands(client):
    rng = np.random.default_rng(3)
    A = client.resident(rng.random((300, 200)))
    assert client.asarray(A) is A
    x = client.asarray(rng.random(200))
    for backend in ("cl", "mpi", "serial"):
        np.testing.assert_allclose(client.matvec(A, x, backend=backend), A @ x, rtol=1e-12)
    reused = counter(client.backends(), "cl", "reused")
    for _ in range(3):
        np.testing.assert_allclose(client.matvec(A, x, backend="cl"), A @ x, rtol=1e-12)
    assert counter(client.backends(), "cl", "reused") >= reused + 3
    A[:] = rng.random((300, 200))              # changed in place ...
    client.touch(A)                            # ... and said so
    for backend in ("cl", "mpi"):
        np.testing.assert_allclose(client.matvec(A, x, backend=backend), A @ x, rtol=1e-12)
    y = client.resident(np.zeros(200))
    client.axpy(1.0, x, y, backend="cl")       # writing a resident array touches it
    np.testing.assert_allclose(client.dot(y, x, backend="cl"), x @ x, rtol=1e-12)
    client.forget(A)
    np.testing.assert_allclose(client.matvec(A, x, backend="cl"), A @ x, rtol=1e-12)


# ---- control ---------------------------------------------------------------------------------


def test_status_backends_reload(daemon, client):
    st = client.status()
    assert st.startswith("hpcd ") and "clients" in st and not st.endswith("\n")
    bk = client.backends()
    for name in BACKENDS:
        assert any(line.split("\t")[0] == name for line in bk.splitlines()), bk
    assert hpcd.status(daemon.socket) .startswith("hpcd ")
    client.reload()
    with open(daemon.config) as f:
        good = f.read()
    try:
        with open(daemon.config, "a") as f:
            f.write("\n[backend broken]\nplugin = serial\nnonsense_key = 1\n")
        with pytest.raises(hpcd.Error) as e:
            client.reload()
        assert str(e.value).startswith("reload refused by hpcd: ") and "nonsense_key" in str(e.value)
    finally:
        with open(daemon.config, "w") as f:
            f.write(good)
    still_usable(client)
    client.reload()


def test_spec_example(daemon, tmp_path):
    """The SPEC's example, unchanged, on a daemon with its omp and pool backends."""
    d = Daemon({"omp": BACKENDS["omp"], "pool": BACKENDS["pool"]}, "default_backend = omp")
    try:
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spec_example.py")
        env = child_env()
        env["HPCD_SOCKET"] = d.socket
        r = subprocess.run(PY + [src], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "hpcd " in r.stdout and "pool\t" in r.stdout
    finally:
        d.stop()


def test_daemon_gone(tmp_path):
    d = Daemon({"serial": "plugin = serial"})
    c = hpcd.connect(d.socket)
    try:
        still_usable(c)
        f = c.submit("sum", np.ones(10))
        assert f.result(10) == 10.0
        d.proc.kill()
        d.proc.wait()
        with pytest.raises(hpcd.Error) as e:
            for _ in range(100):  # the first calls may still find the ring
                c.sum(c.asarray(np.ones(3)))
        assert e.value.errno == errno.EPIPE
        assert "closed the connection" in str(e.value)
        with pytest.raises(hpcd.Error):
            c.submit("sum", np.ones(3)).result(10)
    finally:
        c.close()
        d.stop()


def test_wrong_shape_is_refused_before_copying(daemon):
    with hpcd.connect(daemon.socket, arena=1 << 20) as c:
        with pytest.raises(ValueError, match=r"\bx\b"):
            c.matvec(np.ones((1000, 1000)), np.ones(999))   # 8 MB: would not fit the arena
        still_usable(c)
