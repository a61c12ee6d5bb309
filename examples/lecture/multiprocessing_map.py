"""Lecture, multiprocessing: `Pool.map(f, tasks)` and the pids of the workers that
ran each task. On hpcd: the tasks are jobs mapped over the forkpool backend
(`c.map`), and each job's timeline names the worker processes that ran it.

    PYTHONPATH=python python3 examples/lecture/multiprocessing_map.py [--small] [--out DIR]
"""

import collections
import os

import lecture_common as lc
import numpy as np
import hpcd

BACKEND = "fp"


def main():
    args = lc.parse(__doc__)
    ntasks = 8 if args.small else 16
    n = 200_000 if args.small else 2_000_000
    with hpcd.connect(args.socket) as c:
        # The lecture's tasks: one vector each, summed by a worker of the pool.
        tasks = [c.asarray(np.full(n, float(i))) for i in range(ntasks)]
        results = c.map("sum", tasks, backend=BACKEND, timeline=True)
        per_pid = collections.Counter()
        print("client pid %d; pool backend %r" % (os.getpid(), BACKEND))
        for i, (s, tl) in enumerate(results):
            pids = sorted(set(int(p) for p in tl["pid"]))
            for p in pids:
                per_pid[p] += 1
            assert s == np.sum(tasks[i]), (s, np.sum(tasks[i]))
            print("task %2d: sum = %.1f   ran on worker pid%s %s" % (
                i, s, "s" if len(pids) > 1 else "", ", ".join(map(str, pids))))
        print("worker pids:", sorted(per_pid))
    plt = lc.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    pids = sorted(per_pid)
    ax.bar([str(p) for p in pids], [per_pid[p] for p in pids])
    ax.set_xlabel("worker pid")
    ax.set_ylabel("tasks (chunks) run")
    ax.set_title("c.map over the forkpool backend: %d tasks" % ntasks)
    lc.savefig(fig, args, "multiprocessing_pids.png")


if __name__ == "__main__":
    main()
