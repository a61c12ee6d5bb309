"""Run every lecture script against a daemon of its own, on small sizes (CI) or
the lecture's sizes (--full), writing the pictures into --out (default: a new
temporary folder; never the source tree).

    PYTHONPATH=python python3 examples/lecture/run_all.py [--full] [--out DIR]

The daemon is the build's (bazel-bin/daemon/hpcd, or $HPCD_BUILD/daemon/hpcd) on
a copy of lecture.ini with a socket in a temporary folder.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = [
    ("multiprocessing", "multiprocessing_map.py", ["multiprocessing_pids.png"]),
    ("IPython parallel", "ipyparallel_views.py", ["ipyparallel_timelines.png"]),
    ("MPI", "mpi_matvec.py", ["mpi_matvec.png", "random-matrix.npy", "random-vector.npy"]),
    ("OpenMP", "openmp_matvec.py", ["openmp_matvec.png"]),
    ("OpenCL", "opencl_matvec.py", ["opencl_matvec.png"]),
]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the lecture's sizes (minutes)")
    p.add_argument("--out", help="folder for the pictures")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="hpcd-lecture-")
    os.makedirs(out, exist_ok=True)
    build = os.environ.get("HPCD_BUILD") or os.path.join(REPO, "bazel-bin")
    tmp = tempfile.mkdtemp(prefix="hpcd-lecture-run-")
    sock = os.path.join(tmp, "hpcd.sock")
    with open(os.path.join(HERE, "lecture.ini")) as f:
        ini = f.read()
    ini = re.sub(r"(?m)^socket = .*$", "socket = " + sock, ini)
    ini = re.sub(r"(?m)^plugin_dir = .*$", "plugin_dir = " + os.path.join(build, "plugins"), ini)
    if os.geteuid() != 0:
        ini = ini.replace("--allow-run-as-root ", "")
    config = os.path.join(tmp, "lecture.ini")
    with open(config, "w") as f:
        f.write(ini)
    env = dict(os.environ)
    env.pop("HPCD_SOCKET", None)
    preload = env.pop("LD_PRELOAD", None)  # a sanitizer runtime for Python, not for mpirun or PoCL
    env["POCL_CACHE_DIR"] = os.path.join(tmp, "pocl")
    log = open(os.path.join(tmp, "hpcd.log"), "wb")
    daemon = subprocess.Popen([os.path.join(build, "daemon", "hpcd"), "-c", config],
                              stderr=log, env=env)
    env["HPCD_SOCKET"] = sock
    if preload:
        env["LD_PRELOAD"] = preload
    env.setdefault("PYTHONPATH", os.path.join(REPO, "python"))
    env["MPLBACKEND"] = "Agg"
    failed = []
    try:
        deadline = time.monotonic() + 90
        while not os.path.exists(sock):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("run_all: hpcd did not start:\n" + open(log.name).read())
            time.sleep(0.05)
        time.sleep(0.2)
        for title, script, outputs in SCRIPTS:
            print("==== %s: %s" % (title, script), flush=True)
            t = time.monotonic()
            cmd = [sys.executable, os.path.join(HERE, script), "--out", out]
            if not args.full:
                cmd.append("--small")
            rc = subprocess.call(cmd, env=env)
            missing = [o for o in outputs if not os.path.isfile(os.path.join(out, o))]
            if rc != 0 or missing:
                failed.append(script)
                print("run_all: %s failed (exit %d, missing %s)" % (script, rc, missing or "none"))
            print("==== %s: %.1f s" % (script, time.monotonic() - t), flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        if failed:
            sys.stdout.write(open(log.name, errors="replace").read())
        shutil.rmtree(tmp, ignore_errors=True)
    print("run_all: %d of %d lecture scripts ran; pictures in %s" % (
        len(SCRIPTS) - len(failed), len(SCRIPTS), out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
