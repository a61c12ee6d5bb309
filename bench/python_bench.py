"""python_bench - hpcd from Python against the tools the lecture uses.

    PYTHONPATH=python python3 bench/python_bench.py [--socket S] [--quick]

Prints, in one run:
  1. a tiny op's round trip (c.sum of 8 elements in the arena, back to back,
     p50/p99) next to the same call in NumPy, multiprocessing.Pool(2).apply_async
     and, when python3-ipyparallel is installed, ipyparallel's apply_sync;
  2. matvec f64, N = 2000 ... 12000: c.matvec on arena arrays (openmp backend)
     against numpy.dot on the same arrays (median of reps, same moment);
  3. c.map of 10 000 tiny jobs against Pool(2).map(chunksize=1), tasks per second.
Targets: tiny < 10 us p50; matvec >= 1.05 x numpy.dot for N >= 4000; map >= 10 x
Pool.map. Without --socket it starts the build's hpcd (bazel-bin) on a config of
its own: serial, omp (openmp, one thread per CPU). NumPy's OpenBLAS is told its
best core type (OPENBLAS_CORETYPE) first, and the core that ran is printed.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "examples", "lecture"))
import lecture_common as lc  # noqa: E402  (sets OPENBLAS_CORETYPE before numpy)
import numpy as np  # noqa: E402
import hpcd  # noqa: E402

TINY_ITERS = 20000
SETTLE_S = 0.15


def pct(ts, q):
    ts = sorted(ts)
    return ts[min(len(ts) - 1, int(len(ts) * q))]


def timed(f, n):
    ts = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t = clock()
        f()
        ts.append(clock() - t)
    return pct(ts, 0.5) / 1e3, pct(ts, 0.99) / 1e3


def tiny_task(v):
    return v + 1.0


def start_daemon():
    build = os.environ.get("HPCD_BUILD") or os.path.join(REPO, "bazel-bin")
    tmp = tempfile.mkdtemp(prefix="hpcd-pybench-")
    sock = os.path.join(tmp, "hpcd.sock")
    ini = os.path.join(tmp, "bench.ini")
    with open(ini, "w") as f:
        f.write("[daemon]\nsocket = %s\nplugin_dir = %s\ndefault_backend = omp\n"
                "max_arena_mb = 4096\n\n[backend serial]\nplugin = serial\n\n"
                "[backend omp]\nplugin = openmp\n" % (sock, os.path.join(build, "plugins")))
    env = dict(os.environ)
    env.pop("HPCD_SOCKET", None)
    env.pop("OPENBLAS_CORETYPE", None)
    proc = subprocess.Popen([os.path.join(build, "daemon", "hpcd"), "-c", ini],
                            stderr=open(os.path.join(tmp, "hpcd.log"), "wb"), env=env)
    for _ in range(600):
        if os.path.exists(sock):
            break
        if proc.poll() is not None:
            raise SystemExit("python_bench: hpcd did not start: " +
                             open(os.path.join(tmp, "hpcd.log")).read())
        time.sleep(0.05)
    time.sleep(0.2)
    return proc, sock, tmp


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--socket", help="a running daemon with an 'omp' backend (default: start one)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and counts")
    args = p.parse_args()
    proc = tmp = None
    sock = args.socket
    if sock is None:
        proc, sock, tmp = start_daemon()
    try:
        run(sock, args.quick)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            shutil.rmtree(tmp, ignore_errors=True)


def run(sock, quick):
    import multiprocessing
    print("python_bench: %s, %d CPUs, Python %s, NumPy %s" % (
        os.uname().machine, len(os.sched_getaffinity(0)), sys.version.split()[0], np.__version__))
    lc.reference_banner()
    sizes = [2000, 4000, 6000, 8000] if quick else [2000, 4000, 6000, 8000, 10000, 12000]
    nmax = max(sizes)
    iters = TINY_ITERS // 4 if quick else TINY_ITERS
    with hpcd.connect(sock, arena=(nmax * nmax + 2 * nmax) * 8 + (64 << 20)) as c:
        print("\n1. tiny op round trip (sum of 8 f64), back to back, %d calls" % iters)
        print("%-44s %10s %10s" % ("", "p50 [us]", "p99 [us]"))
        x8 = c.asarray(np.arange(8.0))
        for _ in range(2000):
            c.sum(x8)
        rows = [("hpcd c.sum(x) (default backend: omp)", timed(lambda: c.sum(x8), iters)),
                ("hpcd c.sum(x, backend='serial')", timed(lambda: c.sum(x8, backend="serial"), iters)),
                ("numpy x.sum() (in-process, for scale)", timed(x8.sum, iters))]
        with multiprocessing.Pool(2) as pool:
            for _ in range(200):
                pool.apply_async(tiny_task, (1.0,)).get()
            rows.append(("multiprocessing.Pool(2).apply_async().get()",
                         timed(lambda: pool.apply_async(tiny_task, (1.0,)).get(), iters // 4)))
        for name, (p50, p99) in rows:
            print("%-44s %10.2f %10.2f" % (name, p50, p99))
        ipp = ipyparallel_apply_sync(iters // 20)
        if ipp is None:
            print("%-44s skipped: python3-ipyparallel is not installed" % "ipyparallel apply_sync")
        elif isinstance(ipp, str):
            print("%-44s skipped: %s" % ("ipyparallel apply_sync", ipp))
        else:
            print("%-44s %10.2f %10.2f" % (("ipyparallel apply_sync (one engine)",) + ipp))
        tiny = rows[0][1][0]
        print("target: hpcd tiny op < 10 us p50: %s (%.2f us)" % ("met" if tiny < 10 else "MISSED", tiny))

        print("\n2. matvec f64, c.matvec(A, x, out=y) on the omp backend vs numpy.dot(A, x), "
              "same arena arrays,\n   median ms, speed-up = median of numpy/hpcd over pairs run moments apart")
        print("%8s %12s %12s %8s" % ("N", "numpy [ms]", "hpcd [ms]", "speed-up"))
        ok = True
        for N in sizes:
            A = c.empty((N, N))
            A[:] = 1.0
            A[:, ::7] = 0.5
            xv = c.asarray(np.random.rand(N))
            y = c.empty(N)
            reps = 15 if N <= 6000 else 9
            if quick:
                reps = 5
            t_np, t_hp = [], []
            for _ in range(reps):  # alternate, so both see the same moment of the machine
                t = time.perf_counter()
                A.dot(xv)
                t_np.append(time.perf_counter() - t)
                # OpenBLAS's threads spin for a while after a call (its thread
                # timeout): let them go to sleep, or they take the cores from
                # the daemon's threads during the next measurement.
                time.sleep(SETTLE_S)
                t = time.perf_counter()
                c.matvec(A, xv, out=y)
                t_hp.append(time.perf_counter() - t)
                time.sleep(SETTLE_S)
            assert np.allclose(y, A.dot(xv))
            m_np, m_hp = np.median(t_np) * 1e3, np.median(t_hp) * 1e3
            # The median of each pair's ratio: the pair ran moments apart, so a
            # drift of the machine's bandwidth cancels.
            ratio = float(np.median(np.array(t_np) / np.array(t_hp)))
            if N >= 4000 and ratio < 1.05:
                ok = False
            print("%8d %12.2f %12.2f %8.2f" % (N, m_np, m_hp, ratio))
            del A, xv, y
        print("target: matvec >= 1.05 x numpy.dot for N >= 4000: %s" % ("met" if ok else "MISSED"))

        njobs = 2000 if quick else 10000
        print("\n3. %d tiny jobs: c.map('sum', ...) vs Pool(2).map(f, ..., chunksize=1)" % njobs)
        xs = [c.asarray(np.full(8, float(i))) for i in range(100)]
        items = [xs[i % 100] for i in range(njobs)]
        c.map("sum", items[:1000])
        best_hp = min(timed_once(lambda: c.map("sum", items)) for _ in range(5))
        with multiprocessing.Pool(2) as pool:
            pool.map(tiny_task, range(1000), chunksize=1)
            best_pool = min(timed_once(lambda: pool.map(tiny_task, [float(i) for i in range(njobs)],
                                                        chunksize=1)) for _ in range(3))
        r_hp, r_pool = njobs / best_hp, njobs / best_pool
        print("%-44s %12.0f tasks/s" % ("hpcd c.map (default backend: omp)", r_hp))
        print("%-44s %12.0f tasks/s" % ("multiprocessing Pool(2).map(chunksize=1)", r_pool))
        print("target: map >= 10 x Pool.map: %s (%.1f x)" % (
            "met" if r_hp >= 10 * r_pool else "MISSED", r_hp / r_pool))


def timed_once(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def ipyparallel_apply_sync(n):
    """(p50, p99) of apply_sync on a one-engine cluster, None when ipyparallel
    is missing, or a reason string when a cluster cannot start."""
    try:
        import ipyparallel
    except ImportError:
        return None
    try:
        cluster = ipyparallel.Cluster(n=1)
        rc = cluster.start_and_connect_sync()
    except Exception as e:  # noqa: BLE001 - any failure to start is reported
        return "cannot start a cluster: %s" % e
    try:
        view = rc[0]
        for _ in range(20):  # a builtin: the engine cannot import this file's functions
            view.apply_sync(abs, -1.0)
        return timed(lambda: view.apply_sync(abs, -1.0), n)
    except Exception as e:  # noqa: BLE001
        return "apply_sync failed: %s" % e
    finally:
        try:
            cluster.stop_cluster_sync()
        except Exception:  # noqa: BLE001
            pass


if __name__ == "__main__":
    main()
