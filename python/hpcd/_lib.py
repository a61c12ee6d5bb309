"""Loading libhpc.so and declaring what the package calls in it (ctypes).

The library is looked up, first found wins:
  1. $HPCD_LIBHPC: the file itself, or a folder holding libhpc.so;
  2. the checkout's build output, relative to this file: bazel-bin/libhpc/libhpc.so
     (and libhpc/libhpc.so, which is where a Bazel test's runfiles put it);
  3. where it is installed: PREFIX/lib/libhpc.so.1 beside the package's
     PREFIX/lib/python3.X/dist-packages, else ctypes.util.find_library("hpc"), else
     libhpc.so.1 on the loader's path.
"""

import ctypes
import ctypes.util
import os
import struct

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("HPCD_LIBHPC")
    if env:
        yield os.path.join(env, "libhpc.so") if os.path.isdir(env) else env
        return
    root = os.path.dirname(os.path.dirname(_HERE))  # python/hpcd -> the repository
    for rel in ("bazel-bin/libhpc/libhpc.so", "libhpc/libhpc.so"):
        path = os.path.join(root, rel)
        if os.path.isfile(path):
            yield path
    # Installed: PREFIX/lib/python3.X/dist-packages/hpcd -> PREFIX/lib/libhpc.so.1,
    # which also holds under a DESTDIR or an unusual prefix.
    installed = os.path.join(os.path.dirname(root), "libhpc.so.1")
    if os.path.isfile(installed):
        yield installed
    yield ctypes.util.find_library("hpc") or "libhpc.so.1"


def _load():
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("hpcd: cannot load libhpc.so; tried " + "; ".join(tried) +
                      ". Build it with `bazel build //libhpc:libhpc.so`, or point "
                      "$HPCD_LIBHPC at it")


lib, path = _load()

_vp, _sz, _u32, _int = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = argtypes
    return f


class ConnectOpts(ctypes.Structure):
    """struct hpc_connect_opts (hpc/client.h), field for field."""
    _fields_ = [("sq_entries", ctypes.c_uint32), ("cq_entries", ctypes.c_uint32),
                ("spin_us", ctypes.c_uint32), ("reserved", ctypes.c_uint32),
                ("err", ctypes.c_char_p), ("err_len", ctypes.c_size_t)]


# The longest reason a daemon gives for refusing a client (HPC_REFUSAL_MAX in hpc/wire.h).
REFUSAL_MAX = 512


hpc_connect_opts = _fn("hpc_connect_opts", _int, ctypes.c_char_p, _sz,
                       ctypes.POINTER(ConnectOpts), ctypes.POINTER(_vp))
hpc_close = _fn("hpc_close", None, _vp)
hpc_alloc = _fn("hpc_alloc", _vp, _vp, _sz)
hpc_free = _fn("hpc_free", None, _vp, _vp)
hpc_arena = _fn("hpc_arena", _vp, _vp, ctypes.POINTER(_sz))
# The hot path passes plain ints (handle, addresses of preallocated buffers).
hpc_submit = _fn("hpc_submit", _int, _vp, _vp, _u32)
hpc_wait = _fn("hpc_wait", _int, _vp, _vp, _u32, _u32, _int)
hpc_control = _fn("hpc_control", _int, ctypes.c_char_p, _int, ctypes.c_char_p, _sz)
hpc_strerror = _fn("hpc_strerror", ctypes.c_char_p, _int, ctypes.c_uint32)
hpc_default_socket = _fn("hpc_default_socket", ctypes.c_char_p)

# struct hpc_request (include/hpc/client.h), packed by struct: one call per job.
REQUEST = struct.Struct("<IIQQQQQQdQQQQQI4x")
# struct hpc_completion.
COMPLETION = struct.Struct("<QiIdQQI4x")
assert REQUEST.size == 112 and COMPLETION.size == 48

# enum hpc_op, enum hpc_dtype, enum hpc_control, enum hpc_err_detail (hpc/types.h, hpc/wire.h).
OPS = {"matvec": 1, "matmul": 2, "dot": 3, "sum": 4, "axpy": 5}
F64, F32 = 0, 1
CTL_STATUS, CTL_BACKENDS, CTL_RELOAD = 3, 4, 5
E_NO_BACKEND, E_UNSUPPORTED, E_BACKEND_FAILED = 9, 10, 11
BACKEND_NAME_MAX = 23
MSG_MAX = 65536


def strerror(status, detail=0):
    """The C library's sentence for a failed completion (hpc_strerror)."""
    return hpc_strerror(status, detail).decode("utf-8", "replace")


# libc, for a second mapping of the arena (see _client.Arena).
libc = ctypes.CDLL(None, use_errno=True)
mremap = libc.mremap
mremap.restype = _vp
mremap.argtypes = [_vp, _sz, _sz, _int]
munmap = libc.munmap
munmap.restype = _int
munmap.argtypes = [_vp, _sz]
madvise = libc.madvise
madvise.restype = _int
madvise.argtypes = [_vp, _sz, _int]
MREMAP_MAYMOVE = 1
MADV_POPULATE_WRITE = 23
MAP_FAILED = (1 << 64) - 1
