"""What every lecture script shares: the command line (--small, --out), the
package on the path, OpenBLAS told its best core type before NumPy loads (a fair
NumPy reference, see ../shared/notes/measured-here.md), a timer, and figures
written as PNG with matplotlib's Agg backend.

Import this module before numpy.
"""

import argparse
import ctypes
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def openblas_coretype():
    """SkylakeX with AVX-512 F/BW/DQ/VL, Haswell with AVX2 and FMA, else None
    (OpenBLAS's own choice). Only if OPENBLAS_CORETYPE is not set already."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return os.environ["OPENBLAS_CORETYPE"]
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


_core = openblas_coretype()
if _core:
    os.environ["OPENBLAS_CORETYPE"] = _core
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402

try:
    import hpcd  # noqa: E402
except ImportError:
    sys.path.insert(0, os.path.join(REPO, "python"))
    import hpcd  # noqa: E402,F401


def openblas_corename():
    """The kernels OpenBLAS runs in this process (openblas_get_corename), or '?'."""
    try:
        with open("/proc/self/maps") as f:
            libs = {l.split()[-1] for l in f if "openblas" in l and ".so" in l}
        for path in sorted(libs):
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        pass
    return "?"


def parse(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--small", action="store_true", help="CI sizes: seconds, not minutes")
    p.add_argument("--out", help="folder for the pictures and data files (default: a new "
                   "temporary folder)")
    p.add_argument("--socket", help="hpcd's socket (default $HPCD_SOCKET, else /tmp/hpcd.sock)")
    args = p.parse_args()
    if not args.out:
        args.out = tempfile.mkdtemp(prefix="hpcd-lecture-")
    os.makedirs(args.out, exist_ok=True)
    return args


def reference_banner():
    print("NumPy reference: OpenBLAS core %s (OPENBLAS_CORETYPE=%s)" % (
        openblas_corename(), os.environ.get("OPENBLAS_CORETYPE", "unset")))


def best_of(f, reps=5):
    """The shortest of reps timed calls of f, in seconds, and f's last value."""
    best, v = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        v = f()
        best = min(best, time.perf_counter() - t)
    return best, v


def savefig(fig, args, name):
    path = os.path.join(args.out, name)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print("wrote", path)
    return path


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
