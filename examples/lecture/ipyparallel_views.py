"""Lecture, IPython parallel: the direct view (each engine gets an equal share
up front) against the load-balanced view (the next task to the next idle
engine), on the same unequal work, drawn as tasks per worker over time, with the
time to completion of each.

On hpcd the two views are the forkpool backend's `schedule = static` (instance
"fps") and `schedule = dynamic` (instance "fp"), and the tasks are the chunks of
one job. What makes the work unequal is what makes it unequal on any shared
machine: a neighbour process busy on one CPU. The two workers are pinned one
per CPU, so the one sharing its CPU with the neighbour runs at about half speed;
static waits for it, dynamic hands the fast worker more chunks. (Pinning needs
the daemon's workers to be this user's processes; the affinity is restored at
the end.)

    PYTHONPATH=python python3 examples/lecture/ipyparallel_views.py [--small] [--out DIR]
"""

import multiprocessing
import os
import time

import lecture_common as lc
import numpy as np
import hpcd

VIEWS = [("direct view: forkpool schedule = static", "fps"),
         ("load-balanced view: forkpool schedule = dynamic", "fp")]


def busy(stop, cpu):
    os.sched_setaffinity(0, {cpu})
    while not stop.is_set():
        pass


def main():
    args = lc.parse(__doc__)
    m, k, n = (600, 600, 64) if args.small else (2000, 2000, 200)
    cpus = sorted(os.sched_getaffinity(0))
    with hpcd.connect(args.socket, arena=(m * k + k * n + m * n) * 8 + (16 << 20)) as c:
        rng = np.random.default_rng(1)
        A = c.asarray(rng.random((m, k)))
        B = c.asarray(rng.random((k, n)))
        ref = A @ B
        pinned = {}
        for _, backend in VIEWS:  # find the workers, and pin them one per CPU
            _, tl = c.matmul(A, B, backend=backend, timeline=True)
            for w, pid in sorted(set((int(r["worker"]), int(r["pid"])) for r in tl)):
                if len(cpus) >= 2:
                    try:
                        pinned[pid] = os.sched_getaffinity(pid)
                        os.sched_setaffinity(pid, {cpus[w % 2]})
                    except OSError as e:
                        print("cannot pin worker %d: %s" % (pid, e))
        stop = multiprocessing.Event()
        neighbour = None
        if len(cpus) >= 2:
            neighbour = multiprocessing.Process(target=busy, args=(stop, cpus[1]), daemon=True)
            neighbour.start()
            time.sleep(0.2)
        runs = []
        try:
            for title, backend in VIEWS:
                t = time.perf_counter()
                C, tl = c.matmul(A, B, backend=backend, timeline=True)
                wall = time.perf_counter() - t
                assert np.allclose(C, ref)
                runs.append((title, backend, tl, wall))
        finally:
            stop.set()
            if neighbour is not None:
                neighbour.join()
            for pid, mask in pinned.items():
                try:
                    os.sched_setaffinity(pid, mask)
                except OSError:
                    pass
    plt = lc.pyplot()
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 2.2 * len(runs)), sharex=True)
    for ax, (title, backend, tl, wall) in zip(axes, runs):
        start = int(tl["start_ns"].min())
        done = (int(tl["end_ns"].max()) - start) / 1e9
        pids = sorted(set(int(p) for p in tl["pid"]))
        print("%s (%s): %d chunks, time to completion %.3f s (call %.3f s)" % (
            title, backend, len(tl), done, wall))
        for p in pids:
            mine = tl[tl["pid"] == p]
            busy_s = float(np.sum(mine["end_ns"] - mine["start_ns"])) / 1e9
            print("    worker pid %d: %d chunks, busy %.3f s" % (p, len(mine), busy_s))
        for r in tl:
            y = pids.index(int(r["pid"]))
            ax.broken_barh([((int(r["start_ns"]) - start) / 1e9,
                             (int(r["end_ns"]) - int(r["start_ns"])) / 1e9)],
                           (y - 0.4, 0.8), facecolors="C%d" % (int(r["chunk"]) % 10),
                           edgecolor="black")
        ax.axvline(done, color="red", linestyle="--")
        ax.set_yticks(range(len(pids)))
        ax.set_yticklabels(["pid %d" % p for p in pids])
        ax.set_title("%s: done after %.3f s" % (title, done), fontsize=10)
    axes[-1].set_xlabel("seconds since the job started")
    lc.savefig(fig, args, "ipyparallel_timelines.png")


if __name__ == "__main__":
    main()
