"""Fixtures of the Python client's tests: the real daemon (bazel-built hpcd) on a
temporary config with every backend the project ships, and clients of it.

The build output is $HPCD_BUILD (run_pytest.sh points it at the test's runfiles),
else the checkout's bazel-bin; the package is imported from python/ (PYTHONPATH).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("HPCD_BUILD") or os.path.join(REPO, "bazel-bin")
os.environ.setdefault("HPCD_LIBHPC", os.path.join(BUILD, "libhpc", "libhpc.so"))
sys.path.insert(0, os.path.join(REPO, "python"))

import hpcd  # noqa: E402

MPIRUN_ARGS = "--allow-run-as-root --oversubscribe" if os.geteuid() == 0 else "--oversubscribe"

# Every backend instance the tests run jobs on: name -> the section's settings.
BACKENDS = {
    "serial": "plugin = serial",
    "omp": "plugin = openmp\nthreads = 2",
    "pool": "plugin = forkpool\nworkers = 2\nschedule = dynamic",
    "pools": "plugin = forkpool\nworkers = 2\nschedule = static",
    "mpi": "plugin = mpi\nnp = 2\nmpirun_args = %s\nstart_timeout = 60000" % MPIRUN_ARGS,
    "cl": "plugin = opencl",
}


class Daemon:
    """hpcd on a config of its own in a temporary folder; stop() or the fixture ends it."""

    def __init__(self, backends, extra=""):
        self.dir = tempfile.mkdtemp(prefix="hpcd-py-")
        self.socket = os.path.join(self.dir, "hpcd.sock")
        self.config = os.path.join(self.dir, "hpcd.ini")
        self.log = os.path.join(self.dir, "hpcd.log")
        self.write_config(backends, extra)
        env = dict(os.environ)
        env.pop("HPCD_SOCKET", None)  # it would override the config's socket
        env.pop("LD_PRELOAD", None)   # a sanitizer runtime for Python, not for mpirun or PoCL
        env["POCL_CACHE_DIR"] = os.path.join(self.dir, "pocl")
        os.makedirs(env["POCL_CACHE_DIR"])
        self.proc = subprocess.Popen([os.path.join(BUILD, "daemon", "hpcd"), "-c", self.config],
                                     stderr=open(self.log, "wb"), env=env)
        deadline = time.monotonic() + 90
        while True:
            try:
                hpcd.status(self.socket)
                break
            except hpcd.Error:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = self.log_text()
                    self.stop()
                    raise RuntimeError("hpcd did not start:\n" + log)
                time.sleep(0.05)

    def write_config(self, backends, extra=""):
        text = "[daemon]\nsocket = %s\nplugin_dir = %s\n%s\n" % (
            self.socket, os.path.join(BUILD, "plugins"), extra)
        for name, body in backends.items():
            text += "\n[backend %s]\n%s\n" % (name, body)
        with open(self.config, "w") as f:
            f.write(text)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def clients_connected(self):
        for line in hpcd.status(self.socket).splitlines():
            if line.startswith("clients "):
                return int(line.split()[1])
        raise AssertionError("no clients line in the status")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


@pytest.fixture(scope="session")
def daemon():
    """One daemon with every backend, for the whole session (MPI and OpenCL take
    seconds to open); default backend: serial."""
    d = Daemon(BACKENDS, "default_backend = serial")
    os.environ["HPCD_SOCKET"] = d.socket
    yield d
    rc = d.stop()
    assert rc == 0, "hpcd did not stop cleanly (status %s)" % rc


@pytest.fixture
def client(daemon):
    with hpcd.connect(daemon.socket, arena=64 << 20) as c:
        yield c
