"""The hpcd client: one connection, its arena as NumPy arrays, jobs.

Threading. libhpc allows one thread to submit while one other thread collects
completions on a handle (include/hpc/client.h). Here:

  * `_lock` (the submit lock) guards every call that is not a wait: hpc_submit,
    hpc_alloc, hpc_free, hpc_close.
  * `_clock` (the collect lock) guards hpc_wait. Whoever needs a completion
    collects: a synchronous call (c.matvec ...) takes the collect lock itself and
    waits in hpc_wait on its own thread, so a tiny job costs no thread hand-off.
    Completions of other jobs that it sees on the way are handed to their owners.
  * Futures (submit, map from other threads) are collected by one collector
    thread of the client, which exists from the first submit() and sleeps on a
    condition variable while no future is in flight (no busy wait when idle);
    while futures are in flight it sleeps in hpc_wait (spin 50 us, then futex).
  * A thread that needs a completion while another holds the collect lock waits
    on an Event that the holder sets when its job completes or when it lets go of
    the lock.
  * At most RING jobs are in flight, so the completion ring never fills and
    hpc_submit never blocks for want of a collector.
"""

import collections
import concurrent.futures
import ctypes
import errno as _errno
import itertools
import os
import threading
import time
import weakref

import numpy as np

from . import _lib as L

F8 = np.dtype("<f8")
F4 = np.dtype("<f4")
_DT_CODE = {F8: L.F64, F4: L.F32}
_NAMES = {"f8": F8, "f4": F4, "f64": F8, "f32": F4, "float64": F8, "float32": F4}

# Bumped in a forked child: a client is its creator's alone (os.getpid() is a
# system call per job; this is one list read).
_FORKS = [0]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _FORKS.__setitem__(0, _FORKS[0] + 1))

RING = 1024          # submission/completion ring entries asked for
_CMAX = 256          # completions collected per hpc_wait
_SLICE_MS = 200      # a collector's longest single wait
TIMELINE_RECS = 4096  # chunk records a timeline=True job has room for

#: The NumPy dtype of a timeline row: the fields of struct hpc_chunk_rec
#: (include/hpc/wire.h), at their offsets, without the reserved word.
timeline_dtype = np.dtype({
    "names": ["pid", "worker", "attempt", "flags", "chunk", "first", "count",
              "start_ns", "end_ns"],
    "formats": ["<u4", "<u2", "u1", "u1", "<u4", "<u8", "<u8", "<u8", "<u8"],
    "offsets": [0, 4, 6, 7, 8, 16, 24, 32, 40],
    "itemsize": 48,
})


class Error(OSError):
    """A failure of the daemon or of a job. `errno` is set; str() is the sentence
    hpcrun prints after its "hpcrun: " prefix."""

    def __init__(self, errno, message):
        super().__init__(errno, message)

    def __str__(self):
        return self.strerror


def _dtype(dtype):
    if dtype is None:
        return F8
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError("dtype must be 'f8' or 'f4', not %r" % (dtype,)) from None
    if dt.kind == "f" and dt.itemsize in (4, 8):
        return F8 if dt.itemsize == 8 else F4
    raise TypeError("dtype must be 'f8' or 'f4', not %s" % dt)


def _socket_path(socket):
    if socket is None:
        return L.hpc_default_socket().decode()
    return os.fspath(socket)


def _control(socket, what, name):
    path = _socket_path(socket)
    buf = ctypes.create_string_buffer(L.MSG_MAX + 1)
    rc = L.hpc_control(path.encode(), what, buf, len(buf))
    text = buf.value.decode("utf-8", "replace").rstrip("\n")
    if rc == 0:
        return text
    if text:
        raise Error(-rc, "%s refused by hpcd: %s" % (name, text))
    if -rc in (_errno.ECONNREFUSED, _errno.ENOENT, _errno.EACCES, _errno.EPERM,
               _errno.ENOTSOCK, _errno.ENOTDIR, _errno.ENAMETOOLONG, _errno.EPROTOTYPE):
        raise _connect_error(path, rc)
    raise Error(-rc, "%s: no answer from hpcd at %s: %s" % (name, path, os.strerror(-rc)))


def _connect_error(path, rc, why=b""):
    # The same sentences as hpcrun's connect_failed (cli/hpcrun.c).
    if why:
        return Error(-rc, "hpcd at %s refused the connection: %s" % (
            path, why.decode(errors="replace")))
    absent = -rc in (_errno.ECONNREFUSED, _errno.ENOENT)
    return Error(-rc, "cannot connect to hpcd at %s: %s%s" % (
        path, os.strerror(-rc), " (is the daemon running?)" if absent else ""))


def status(socket=None):
    """The daemon's status, as `hpcrun status` prints it (str)."""
    return _control(socket, L.CTL_STATUS, "status")


def backends(socket=None):
    """The backend instances now loaded, as `hpcrun backends` prints them (str)."""
    return _control(socket, L.CTL_BACKENDS, "backends")


def reload(socket=None):
    """Ask the daemon to reload its config; raises Error with its reason when refused."""
    return _control(socket, L.CTL_RELOAD, "reload")


# ---- The arena ------------------------------------------------------------------


class _Arena:
    """The client's arena as this process sees it, and its allocator's state.

    libhpc maps the region at R; hpc_close() unmaps it. So that arrays outlive
    close(), the package maps the arena's pages a second time at D (mremap with
    old_size 0 duplicates a shared mapping) and gives NumPy only addresses in D;
    a job's addresses are translated back by `delta` = R - D. D is unmapped when
    the last array and the client are gone.
    """

    def __init__(self, handle, lock):
        size = L._sz()
        r = L.hpc_arena(handle, ctypes.byref(size))
        self.size = size.value
        self.r = r or 0
        self.handle = handle
        self.lock = lock          # the client's submit lock
        self.closed = False
        self.pending = collections.deque()  # frees that could not take the lock
        self.gens = {}            # address in D -> [generation, nbytes] (resident operands)
        if self.size:
            d = L.mremap(r, 0, self.size, L.MREMAP_MAYMOVE)
            if d is None or d == L.MAP_FAILED:
                e = ctypes.get_errno()
                raise Error(e, "cannot map the shared arena: %s" % os.strerror(e))
            # Page tables for D now, as libhpc did for R: the pages exist already.
            L.madvise(d, self.size, L.MADV_POPULATE_WRITE)
            self.d = d
        else:
            self.d = 0
        self.lo, self.hi = self.d, self.d + self.size
        self.delta = self.r - self.d

    def __del__(self):
        if self.d:
            L.munmap(self.d, self.size)
            self.d = 0

    def alloc(self, nbytes):
        """An address in D, or None when the arena has no room (submit lock held)."""
        if self.pending:
            self.drain()
        p = L.hpc_alloc(self.handle, nbytes)
        if p is None:
            return None
        return p - self.delta

    def drain(self):
        pend = self.pending
        while pend:
            L.hpc_free(self.handle, pend.popleft() + self.delta)

    def free(self, d):
        if self.closed:
            return
        # Finalizers run in whatever thread drops the last reference, possibly
        # one that holds the lock already: never block here.
        if self.lock.acquire(False):
            try:
                if not self.closed:
                    self.drain()
                    L.hpc_free(self.handle, d + self.delta)
            finally:
                self.lock.release()
        else:
            self.pending.append(d)


class _Owner:
    """The base object of every array in the arena: exposes one allocation to
    NumPy, and frees it when the array and every view of it are gone."""

    __slots__ = ("__array_interface__", "arena", "addr", "nbytes", "gen_keys", "__weakref__")

    def __init__(self, arena, addr, shape, dt, nbytes):
        self.arena = arena
        self.addr = addr
        self.nbytes = nbytes
        self.gen_keys = None
        self.__array_interface__ = {"data": (addr, False), "shape": shape,
                                    "typestr": dt.str, "version": 3}

    def __del__(self):
        arena = self.arena
        if self.gen_keys:
            for k in self.gen_keys:
                arena.gens.pop(k, None)
        arena.free(self.addr)


def _owner_of(a):
    b = a.base
    while isinstance(b, np.ndarray):
        b = b.base
    return b if isinstance(b, _Owner) else None


# ---- Jobs -----------------------------------------------------------------------


class _Slot:
    """One job in flight: where its completion goes."""

    __slots__ = ("job", "done", "status", "detail", "result", "t0", "t1", "tlc",
                 "event", "future")

    def __init__(self, job, future=None):
        self.job = job
        self.done = False
        self.event = None
        self.future = future

    def complete(self, ud, st, det, res, t0, t1, tlc):
        self.status, self.detail, self.result = st, det, res
        self.t0, self.t1, self.tlc = t0, t1, tlc
        self.done = True
        ev = self.event
        if ev is not None:
            ev.set()
        return self.future is not None

    def fail(self, err):
        self.job.error = err
        return self.complete(0, -err.errno, 0, 0.0, 0, 0, 0)

    def value(self):
        return self.job.finish(self)


class _Batch:
    """The jobs of one map() call: a range of tokens [lo, hi), one waiter; the
    completions land in NumPy arrays, a whole hpc_wait's worth at a time."""

    __slots__ = ("lo", "hi", "left", "done", "event", "future", "status", "detail",
                 "result", "tlc", "error")

    def __init__(self, lo, n):
        self.lo, self.hi = lo, lo + n
        self.left = n
        self.done = not n
        self.event = self.future = self.error = None
        self.status = np.zeros(n, np.int32)
        self.detail = np.zeros(n, np.uint32)
        self.result = np.zeros(n, np.float64)
        self.tlc = np.zeros(n, np.uint32)

    def mark_done(self):
        self.done = True
        ev = self.event
        if ev is not None:
            ev.set()

    def fail(self, err):
        self.error = err
        self.mark_done()


_COMP_DT = np.dtype({
    "names": ["ud", "status", "detail", "result", "t0", "t1", "tlc"],
    "formats": ["<u8", "<i4", "<u4", "<f8", "<u8", "<u8", "<u4"],
    "offsets": [0, 8, 12, 16, 24, 32, 40],
    "itemsize": 48,
})


class _Result:
    __slots__ = ("status", "detail", "result", "t0", "t1", "tlc")


class _Job:
    """A prepared job: the request's fields, and the arrays it needs alive."""

    __slots__ = ("client", "op", "opname", "code", "m", "n", "k", "a", "b", "out", "alpha",
                 "agen", "bgen", "bname", "baddr", "keep", "result", "copyback", "tl",
                 "error", "scalar_f32")

    def pack(self, buf, off, token):
        tl = self.tl
        L.REQUEST.pack_into(buf, off, self.op, self.code, self.m, self.n, self.k,
                            self.a, self.b, self.out, self.alpha, self.baddr,
                            self.agen, self.bgen, token,
                            0 if tl is None else tl[1], 0 if tl is None else TIMELINE_RECS)

    def finish(self, s):
        """The job's value from its completion, or raise its error."""
        if self.error is not None:
            raise self.error
        if s.status < 0:
            raise self.client._job_error(self, s.status, s.detail)
        if self.result is None:  # dot, sum
            v = s.result
            if self.scalar_f32:
                v = float(np.float32(v))
        else:
            v = self.result
            if self.copyback is not None:
                self.copyback[...] = v
                v = self.copyback
        if self.tl is not None:
            n = min(s.tlc, TIMELINE_RECS)
            return v, np.array(self.tl[0][:n])
        return v


_NOPERANDS = {1: 2, 2: 2, 3: 2, 4: 1, 5: 3}
_unpack1 = L.COMPLETION.unpack_from


def _check_vec(a, name):
    if a.ndim != 1:
        raise ValueError("%s must be a vector (1-D), not an array of shape %s" % (name, a.shape))


def _check_mat(a, name):
    if a.ndim != 2:
        raise ValueError("%s must be a matrix (2-D), not an array of shape %s" % (name, a.shape))


# ---- The client -----------------------------------------------------------------


def connect(socket=None, arena=256 << 20, *, spin_us=0):
    """Connect to hpcd and return a Client; raises Error at once when it cannot.

    socket: the daemon's socket (default $HPCD_SOCKET, else /tmp/hpcd.sock).
    arena:  bytes of shared operand space (default 256 MiB).
    spin_us: how long a wait spins before sleeping (libhpc's default: 50).
    Use it as a context manager: `with hpcd.connect() as c: ...` closes it.
    """
    return Client(socket, arena, spin_us)


class Client:
    """A connection to hpcd: a shared arena and the jobs that use it.

    Arrays from empty()/asarray() and results are NumPy arrays whose memory is
    the arena; operands already there travel with zero copies, other arrays are
    copied into the arena for the call. Every method may be called from several
    threads. See the package's docstring for the whole API.
    """

    def __init__(self, socket, arena, spin_us=0):
        self.socket = _socket_path(socket)
        arena = int(arena)
        if arena < 0:
            raise ValueError("arena must be >= 0 bytes")
        h = L._vp()
        why = ctypes.create_string_buffer(L.REFUSAL_MAX + 1)
        opts = L.ConnectOpts(RING, RING, int(spin_us), 0,
                             ctypes.cast(why, ctypes.c_char_p), len(why))
        rc = L.hpc_connect_opts(self.socket.encode(), arena, ctypes.byref(opts), ctypes.byref(h))
        if rc < 0:
            raise _connect_error(self.socket, rc, why.value)
        self._h = h.value
        self._pid = os.getpid()
        self._fork = _FORKS[0]
        self._lock = threading.Lock()
        self._clock = threading.Lock()
        try:
            self._arena = _Arena(self._h, self._lock)
        except BaseException:
            L.hpc_close(self._h)
            raise
        self.arena_size = self._arena.size
        self._closed = False
        self._closing = False
        self._dead = None          # the Error every later job gets once the daemon is gone
        self._pending = {}         # token -> _Slot or _Batch
        self._tokens = itertools.count(1)
        self._nsub = 0             # jobs submitted (written under _lock only)
        self._ncol = 0             # completions collected (written under _clock only)
        self._followers = set()    # slots whose owner waits on an Event
        self._cv = threading.Condition(threading.Lock())
        self._nfut = 0             # futures in flight (under _cv)
        self._stop = False
        self._thread = None
        self._rbuf = ctypes.create_string_buffer(L.REQUEST.size)
        self._raddr = ctypes.addressof(self._rbuf)
        self._cbuf = ctypes.create_string_buffer(L.COMPLETION.size * _CMAX)
        self._caddr = ctypes.addressof(self._cbuf)
        self._cview = memoryview(self._cbuf).cast("B")
        self._cnp = np.frombuffer(self._cbuf, _COMP_DT)
        self._batches = []         # map() calls in flight
        self._bnames = {None: (b"", 0)}
        self._gen = itertools.count(1)

    # -- life cycle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass

    @property
    def closed(self):
        return self._closed

    def close(self):
        """Wait for the jobs in flight, then close the connection. Arrays from the
        arena stay valid; passing them to this client later raises Error."""
        with self._lock:
            if self._closed or self._closing:
                return
            self._closing = True
        if _FORKS[0] != self._fork:
            # A forked child's copy: the rings are its parent's; leave them alone.
            self._pending.clear()
            self._arena.closed = True
            self._closed = True
            return
        while self._pending or self._batches:
            if self._clock.acquire(timeout=0.01):
                futs = []
                try:
                    if self._pending or self._batches:
                        self._collect(futs, _SLICE_MS)
                finally:
                    self._clock.release()
                    self._wake_followers()
                self._resolve(futs)
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
        with self._clock:  # nobody is in hpc_wait ...
            with self._lock:  # ... or in any other call on the handle
                self._arena.closed = True
                L.hpc_close(self._h)
                self._h = None
                self._closed = True
        self._arena = None

    def _check_open(self):
        if self._closed or self._closing:
            raise Error(_errno.EBADF, "the client is closed")
        if _FORKS[0] != self._fork:
            raise Error(_errno.EBADF, "this client belongs to process %d; connect again in "
                        "process %d" % (self._pid, os.getpid()))
        if self._dead is not None:
            raise self._dead

    # -- arrays

    def _new(self, shape, dt, what):
        """An uninitialised array in the arena (caller holds no lock)."""
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        else:
            shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError("negative dimensions are not allowed: %s" % (shape,))
        count = 1
        for s in shape:
            count *= s
        nbytes = count * dt.itemsize
        with self._lock:
            self._check_open()
            arena = self._arena
            addr = arena.alloc(nbytes)
        if addr is None:
            raise Error(_errno.ENOMEM, "the shared arena of %d bytes has no room for %s (%d bytes)"
                        % (arena.size, what, nbytes))
        return np.asarray(_Owner(arena, addr, shape, dt, nbytes))

    def empty(self, shape, dtype="f8"):
        """A new uninitialised numpy.ndarray of `shape` whose memory is the arena
        ("f8", or dtype="f4"). Its space is freed when it and its views are gone."""
        return self._new(shape, _dtype(dtype), "the array")

    def zeros(self, shape, dtype="f8"):
        """Like empty(), filled with zeros."""
        a = self.empty(shape, dtype)
        a.fill(0)
        return a

    def _in_arena(self, a):
        arena = self._arena
        if arena is None:
            return False
        p = a.__array_interface__["data"][0]
        return arena.lo <= p and p + a.nbytes <= arena.hi

    def asarray(self, a, dtype=None):
        """`a` in the arena: an array already in this client's arena (of the dtype
        asked, if any) is returned as is; anything else is copied into a new arena
        array (f8 unless `a` is f4 or dtype says otherwise)."""
        self._check_open()
        want = None if dtype is None else _dtype(dtype)
        if isinstance(a, np.ndarray) and self._in_arena(a) and (want is None or a.dtype == want):
            return a
        src = np.asarray(a)
        if want is None:
            if src.dtype.kind == "f" and src.dtype.itemsize in (4, 8):
                want = F8 if src.dtype.itemsize == 8 else F4
            elif src.dtype.kind in "iub":
                want = F8
            else:
                raise TypeError("cannot put %s values in the arena (f8 or f4 only)" % src.dtype)
        out = self._new(src.shape, want, "the array")
        out[...] = src
        return out

    # -- operand generations

    def resident(self, a):
        """Keep the matrix (or vector) `a` resident on backends that cache operands
        (mpi ranks, the opencl device) across jobs, and return it as an arena array
        (copied there first when it is not). Later jobs reuse what the backend holds
        instead of sending it again, until you say that it changed: after changing
        its contents in place call touch(a). Jobs that write into a resident array
        (an axpy's y, a result given as out=) touch it themselves. forget(a) ends it.

            A = c.resident(A)          # A now lives in the arena
            y1 = c.matvec(A, x, backend="mpi")   # A sent to the ranks once
            y2 = c.matvec(A, x2, backend="mpi")  # reused
            A[0, 0] = 1.0; c.touch(A)            # changed: the next job sends it again
        """
        a = self.asarray(a)
        owner = _owner_of(a)
        if owner is None or owner.arena is not self._arena:
            a = self.asarray(np.array(a))
            owner = _owner_of(a)
        if not a.flags.c_contiguous:
            raise ValueError("a resident operand must be C-contiguous")
        p = a.__array_interface__["data"][0]
        self._arena.gens[p] = [next(self._gen), a.nbytes]
        if owner.gen_keys is None:
            owner.gen_keys = []
        owner.gen_keys.append(p)
        return a

    def touch(self, a):
        """Say that the resident array `a` changed: the next job sends it again.
        (No effect on an array that is not resident.)"""
        arena = self._arena
        if arena is None or not isinstance(a, np.ndarray):
            return
        g = arena.gens.get(a.__array_interface__["data"][0])
        if g is not None:
            g[0] = next(self._gen)

    def forget(self, a):
        """Stop keeping `a` resident (its jobs carry generation 0 again)."""
        arena = self._arena
        if arena is not None and isinstance(a, np.ndarray):
            arena.gens.pop(a.__array_interface__["data"][0], None)

    # -- control

    def status(self):
        """The daemon's status, as `hpcrun status` prints it (str)."""
        self._check_open()
        return _control(self.socket, L.CTL_STATUS, "status")

    def backends(self):
        """The backend instances now loaded, as `hpcrun backends` prints them (str)."""
        self._check_open()
        return _control(self.socket, L.CTL_BACKENDS, "backends")

    def reload(self):
        """Ask the daemon to reload its config; raises Error with its reason when refused."""
        self._check_open()
        return _control(self.socket, L.CTL_RELOAD, "reload")

    # -- preparing jobs

    def _operand(self, v, name, dt, keep):
        """(array, its address in D) of operand `v` after checking its type and
        layout; the address is None when `v` lies outside the arena (_place copies
        it in, once its shape has been checked too)."""
        if not isinstance(v, np.ndarray):
            v = np.asarray(v, dtype=dt or F8)
        vdt = v.dtype
        if vdt is not F8 and vdt is not F4:
            if vdt == F8 or vdt == F4:
                vdt = F8 if vdt == F8 else F4
            elif vdt.kind == "f" and vdt.itemsize in (4, 8):  # other byte order: copied
                vdt = F8 if vdt.itemsize == 8 else F4
                v = v.astype(vdt)
            else:
                raise TypeError("%s must hold f8 or f4 values, not %s" % (name, vdt))
        if dt is not None and vdt is not dt and vdt != dt:
            raise TypeError("%s holds %s values but the other operands hold %s; all operands "
                            "must have the same element type" % (name, vdt.name, dt.name))
        if not v.flags.c_contiguous:
            raise ValueError("%s is not C-contiguous (use numpy.ascontiguousarray(%s))"
                             % (name, name))
        arena = self._arena
        b = v.base
        if b.__class__ is _Owner and b.arena is arena:
            return v, b.addr  # an array made by _new (not a view): its own allocation
        p = v.__array_interface__["data"][0]
        if not (arena.lo <= p and p + v.nbytes <= arena.hi):
            return v, None
        return v, p

    def _place(self, v, p, name, keep):
        """(v, p) in the arena: a copy for the call when p is None."""
        if p is not None:
            return v, p
        t = self._new(v.shape, v.dtype, name)
        t[...] = v
        keep.append(t)
        return t, t.__array_interface__["data"][0]

    def _output(self, shape, dt, out, name, keep):
        """(array, address, copyback) of a job's output."""
        if out is None:
            r = self._new(shape, dt, "the result")
            return r, r.__array_interface__["data"][0], None
        if not isinstance(out, np.ndarray):
            raise TypeError("%s must be a numpy.ndarray" % name)
        if out.shape != shape:
            raise ValueError("%s has shape %s, the result has %s" % (name, out.shape, shape))
        if out.dtype != dt:
            raise TypeError("%s holds %s values but the operands hold %s" % (name, out.dtype, dt.name))
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("%s is not a writeable C-contiguous array" % name)
        arena = self._arena
        p = out.__array_interface__["data"][0]
        if arena.lo <= p and p + out.nbytes <= arena.hi:
            return out, p, None
        t = self._new(shape, dt, name)
        return t, t.__array_interface__["data"][0], out

    def _backend(self, backend):
        try:
            return self._bnames[backend]
        except KeyError:
            pass
        if not isinstance(backend, str):
            raise TypeError("backend must be a str naming a backend instance")
        b = backend.encode()
        if len(b) > L.BACKEND_NAME_MAX or b"\0" in b or not b:
            raise Error(_errno.ENOENT, "no backend named '%s' on the daemon" % backend)
        entry = (b, ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p).value)
        self._bnames[backend] = entry
        return entry

    def _prepare(self, opname, args, backend, timeline, out=None):
        if self._closed or self._closing or self._dead is not None or _FORKS[0] != self._fork:
            self._check_open()
        op = L.OPS.get(opname)
        if op is None:
            raise ValueError("unknown operation %r (matvec, matmul, dot, sum, axpy)" % (opname,))
        j = _Job()
        j.client = self
        j.op, j.opname = op, opname
        j.bname, j.baddr = backend, self._backend(backend)[1]
        j.m = j.n = j.k = j.out = j.agen = j.bgen = 0
        j.alpha = 0.0
        j.result = j.copyback = j.tl = j.error = None
        keep = []
        need = _NOPERANDS[op]
        if len(args) != need:
            raise TypeError("%s takes %d operands, not %d" % (opname, need, len(args)))
        if op == 1:  # matvec
            A, Aa = self._operand(args[0], "A", None, keep)
            x, xa = self._operand(args[1], "x", A.dtype, keep)
            _check_mat(A, "A")
            _check_vec(x, "x")
            if x.shape[0] != A.shape[1]:
                raise ValueError("x has %d elements but A has %d columns" % (x.shape[0], A.shape[1]))
            j.m, j.n = A.shape
            A, Aa = self._place(A, Aa, "A", keep)
            x, xa = self._place(x, xa, "x", keep)
            r, ra, j.copyback = self._output((j.m,), A.dtype, out, "out", keep)
            ops = (A, x)
        elif op == 2:  # matmul
            A, Aa = self._operand(args[0], "A", None, keep)
            x, xa = self._operand(args[1], "B", A.dtype, keep)
            _check_mat(A, "A")
            _check_mat(x, "B")
            if x.shape[0] != A.shape[1]:
                raise ValueError("B has %d rows but A has %d columns" % (x.shape[0], A.shape[1]))
            j.m, j.k = A.shape
            j.n = x.shape[1]
            A, Aa = self._place(A, Aa, "A", keep)
            x, xa = self._place(x, xa, "B", keep)
            r, ra, j.copyback = self._output((j.m, j.n), A.dtype, out, "out", keep)
            ops = (A, x)
        elif op == 3:  # dot
            A, Aa = self._operand(args[0], "x", None, keep)
            if args[1] is args[0]:
                x, xa = A, Aa
            else:
                x, xa = self._operand(args[1], "y", A.dtype, keep)
            if A.ndim != 1 or x.ndim != 1:
                _check_vec(A, "x")
                _check_vec(x, "y")
            if x.shape[0] != A.shape[0]:
                raise ValueError("y has %d elements but x has %d" % (x.shape[0], A.shape[0]))
            j.n = A.shape[0]
            same = x is A
            A, Aa = self._place(A, Aa, "x", keep)
            x, xa = (A, Aa) if same else self._place(x, xa, "y", keep)
            r = None
            ops = (A, x)
        elif op == 4:  # sum
            A, Aa = self._operand(args[0], "x", None, keep)
            if A.ndim != 1:
                _check_vec(A, "x")
            j.n = A.shape[0]
            A, Aa = self._place(A, Aa, "x", keep)
            x, xa = None, 0
            r = None
            ops = (A,)
        else:  # axpy
            j.alpha = float(args[0])
            A, Aa = self._operand(args[1], "x", None, keep)
            y = args[2]
            if not isinstance(y, np.ndarray):
                raise TypeError("y must be a numpy.ndarray (axpy writes into it)")
            _check_vec(A, "x")
            _check_vec(y, "y")
            if y.shape != A.shape:
                raise ValueError("y has %d elements but x has %d" % (y.shape[0], A.shape[0]))
            if y.dtype != A.dtype:
                raise TypeError("y holds %s values but x holds %s; all operands must have the "
                                "same element type" % (y.dtype, A.dtype.name))
            A, Aa = self._place(A, Aa, "x", keep)
            r, ra, j.copyback = self._output(A.shape, A.dtype, y, "y", keep)
            if j.copyback is not None:
                r[...] = y
            j.n = A.shape[0]
            x, xa = None, 0
            ops = (A,)
        arena = self._arena
        j.code = L.F64 if A.dtype.itemsize == 8 else L.F32
        j.scalar_f32 = r is None and j.code == L.F32
        j.a, j.b = Aa + arena.delta, (xa + arena.delta if xa else 0)
        gens = arena.gens
        if gens:
            g = gens.get(Aa)
            if g is not None and g[1] == A.nbytes:
                j.agen = g[0]
            if xa:
                g = gens.get(xa)
                if g is not None and g[1] == x.nbytes:
                    j.bgen = g[0]
        if r is not None:
            j.out = ra + arena.delta
            j.result = r
            keep.append(r)
        if timeline:
            tl = self._new((TIMELINE_RECS * timeline_dtype.itemsize,), np.dtype("u1"),
                           "the timeline").view(timeline_dtype)
            j.tl = (tl, tl.__array_interface__["data"][0] + self._arena.delta)
        j.keep = (ops, keep)
        return j

    def _touched(self, j):
        """After submitting j: an output that is resident has changed."""
        gens = self._arena.gens
        if gens and j.result is not None:
            g = gens.get(j.out - self._arena.delta)
            if g is not None:
                g[0] = next(self._gen)

    # -- submitting and collecting

    def _submit_locked(self, addr, n, opname):
        """hpc_submit n packed requests at addr; returns how many were queued."""
        rc = L.hpc_submit(self._h, addr, n)
        if rc <= 0:
            raise self._submit_error(rc, opname)
        self._nsub += rc
        return rc

    def _submit_error(self, rc, opname):
        """hpcrun's sentences for a job that could not be queued."""
        if rc == -_errno.EPIPE:
            self._dead = Error(_errno.EPIPE, "hpcd at %s closed the connection before "
                               "answering (did it stop?)" % self.socket)
            return self._dead
        e = -rc if rc < 0 else _errno.EIO
        return Error(e, "cannot run %s: %s" % (opname, os.strerror(e)))

    def _job_error(self, j, status, detail):
        why = L.strerror(status, detail)
        b, name, dt = j.bname, j.opname, "f64" if j.code == L.F64 else "f32"
        if detail == L.E_NO_BACKEND:
            if b is not None:
                msg = "no backend named '%s' on the daemon" % b
            else:
                msg = "the daemon has no default backend; name one with backend="
        elif detail == L.E_UNSUPPORTED:
            if b is not None:
                msg = "backend '%s' does not support %s on %s values" % (b, name, dt)
            else:
                msg = "the default backend does not support %s on %s values" % (name, dt)
        elif detail == L.E_BACKEND_FAILED:
            if b is not None:
                msg = "backend '%s' failed to run %s: %s" % (b, name, why)
            else:
                msg = "the default backend failed to run %s: %s" % (name, why)
        else:
            msg = "%s failed: %s" % (name, why)
        return Error(-status, msg)

    def _collect(self, futs, timeout_ms):
        """One hpc_wait (collect lock held): hand each completion to its owner;
        slots of futures go to futs, to be resolved once the lock is let go."""
        if self._h is None:
            return
        n = L.hpc_wait(self._h, self._caddr, 1, _CMAX, timeout_ms)
        if n <= 0:
            if n < 0:
                self._fail_all(n, futs)
            return
        self._dispatch(n, futs)

    def _dispatch(self, n, futs):
        """Hand the n completions in the buffer to their owners (collect lock held)."""
        self._ncol += n
        pend = self._pending
        it = None
        if self._batches:
            comps = self._cnp[:n]
            ud = comps["ud"]
            taken = None
            for b in list(self._batches):
                m = (ud >= b.lo) & (ud < b.hi)
                k = int(np.count_nonzero(m))
                if not k:
                    continue
                sel = comps[m]
                i = (sel["ud"] - b.lo).astype(np.intp)
                b.status[i] = sel["status"]
                b.detail[i] = sel["detail"]
                b.result[i] = sel["result"]
                b.tlc[i] = sel["tlc"]
                b.left -= k
                if not b.left:
                    self._batches.remove(b)
                    b.mark_done()
                taken = m if taken is None else taken | m
            if taken is not None:
                unpack = L.COMPLETION.unpack_from
                buf = self._cbuf
                it = [unpack(buf, i * 48) for i in np.flatnonzero(~taken).tolist()]
        if it is None:
            it = L.COMPLETION.iter_unpack(self._cview[:n * 48])
        for c in it:
            s = pend.pop(c[0], None)
            if s is not None and s.complete(*c):
                futs.append(s)

    def _fail_all(self, rc, futs):
        if rc == -_errno.EPIPE:
            err = Error(_errno.EPIPE, "hpcd at %s closed the connection before answering "
                        "(did it stop?)" % self.socket)
        else:
            err = Error(-rc, "cannot collect the job: %s" % os.strerror(-rc))
        self._dead = err
        for b in list(self._batches):
            b.fail(err)
        self._batches.clear()
        for tok in list(self._pending):
            s = self._pending.pop(tok, None)
            if s is not None and s.fail(err):
                futs.append(s)

    def _resolve(self, futs):
        if not futs:
            return
        with self._cv:
            self._nfut -= len(futs)
        for s in futs:
            try:
                v = s.value()
            except BaseException as e:
                s.future.set_exception(e)
            else:
                s.future.set_result(v)

    def _wake_followers(self):
        if self._followers:
            for s in list(self._followers):
                ev = s.event
                if ev is not None:
                    ev.set()

    def _await(self, slot):
        """Until slot is done: collect ourselves, or wait for whoever collects."""
        ev = None
        while not slot.done:
            if self._clock.acquire(False):
                futs = []
                try:
                    while not slot.done:
                        self._collect(futs, _SLICE_MS)
                finally:
                    self._clock.release()
                    self._wake_followers()
                self._resolve(futs)
                break
            if ev is None:
                ev = slot.event = threading.Event()
                self._followers.add(slot)
                continue  # try the lock once more: its holder may have just let go
            ev.wait(0.1)
            ev.clear()
        if ev is not None:
            self._followers.discard(slot)

    def _room(self):
        """Wait until one job more may be in flight (the rings hold RING): collect,
        or, while another thread collects, look again every 50 us."""
        while self._nsub - self._ncol >= RING and self._dead is None and not self._closed:
            if self._clock.acquire(False):
                futs = []
                try:
                    self._collect(futs, _SLICE_MS)
                finally:
                    self._clock.release()
                    self._wake_followers()
                self._resolve(futs)
            else:
                time.sleep(50e-6)

    def _run(self, j):
        """Submit j and wait for its value on this thread (the hot path of every
        synchronous call: no thread hand-off when no other thread collects)."""
        slot = _Slot(j)
        if self._nsub - self._ncol >= RING:
            self._room()
        with self._lock:
            if self._closing or self._dead is not None:
                self._check_open()
            token = next(self._tokens)
            self._pending[token] = slot
            j.pack(self._rbuf, 0, token)
            rc = L.hpc_submit(self._h, self._raddr, 1)
            if rc == 1:
                self._nsub += 1
            else:
                self._pending.pop(token, None)
                raise self._submit_error(rc, j.opname)
            if j.result is not None:
                self._touched(j)
        clock = self._clock
        if clock.acquire(False):
            futs = None
            try:
                pend = self._pending
                while not slot.done:
                    n = L.hpc_wait(self._h, self._caddr, 1, _CMAX, _SLICE_MS)
                    if n <= 0:
                        if n < 0:
                            if futs is None:
                                futs = []
                            self._fail_all(n, futs)
                        continue
                    if self._batches:
                        if futs is None:
                            futs = []
                        self._dispatch(n, futs)
                        continue
                    self._ncol += n
                    if n == 1:  # the usual case: our own completion, alone
                        c = _unpack1(self._cbuf)
                        if c[0] == token:
                            del pend[token]
                            slot.status, slot.detail, slot.result = c[1], c[2], c[3]
                            slot.t0, slot.t1, slot.tlc = c[4], c[5], c[6]
                            slot.done = True
                            break
                        comps = (c,)
                    else:
                        comps = L.COMPLETION.iter_unpack(self._cview[:n * 48])
                    for c in comps:
                        s = pend.pop(c[0], None)
                        if s is not None and s.complete(*c):
                            if futs is None:
                                futs = []
                            futs.append(s)
            finally:
                clock.release()
                if self._followers:
                    self._wake_followers()
            if futs:
                self._resolve(futs)
        else:
            self._await(slot)
        return j.finish(slot)

    def _start_collector(self):
        t = threading.Thread(target=_collector_main, args=(weakref.ref(self), self._cv),
                             name="hpcd-collector", daemon=True)
        self._thread = t
        t.start()

    def _submit_future(self, j):
        fut = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()  # a job in the ring cannot be cancelled
        slot = _Slot(j, fut)
        if self._nsub - self._ncol >= RING:
            self._room()
        with self._lock:
            self._check_open()
            token = next(self._tokens)
            with self._cv:
                self._nfut += 1
            self._pending[token] = slot
            j.pack(self._rbuf, 0, token)
            try:
                self._submit_locked(self._raddr, 1, j.opname)
            except BaseException:
                self._pending.pop(token, None)
                with self._cv:
                    self._nfut -= 1
                raise
            self._touched(j)
        with self._cv:
            if self._thread is None:
                self._start_collector()
            self._cv.notify()
        return fut

    # -- the public job calls

    def matvec(self, A, x, *, backend=None, timeline=False, out=None):
        """y = A·x (A m×n, x n) as a new arena array (or into `out`).
        With timeline=True: (y, timeline)."""
        return self._run(self._prepare("matvec", (A, x), backend, timeline, out))

    def matmul(self, A, B, *, backend=None, timeline=False, out=None):
        """C = A·B (A m×k, B k×n) as a new arena array (or into `out`).
        With timeline=True: (C, timeline)."""
        return self._run(self._prepare("matmul", (A, B), backend, timeline, out))

    def dot(self, x, y, *, backend=None, timeline=False):
        """x·y as a Python float. With timeline=True: (s, timeline)."""
        return self._run(self._prepare("dot", (x, y), backend, timeline))

    def sum(self, x, *, backend=None, timeline=False):
        """Σ x as a Python float. With timeline=True: (s, timeline)."""
        return self._run(self._prepare("sum", (x,), backend, timeline))

    def axpy(self, alpha, x, y, *, backend=None, timeline=False):
        """y <- alpha·x + y in place (y may lie outside the arena); returns y.
        With timeline=True: (y, timeline)."""
        return self._run(self._prepare("axpy", (alpha, x, y), backend, timeline))

    def submit(self, op, *operands, backend=None, timeline=False):
        """Start op ("matvec", "matmul", "dot", "sum", "axpy") on the operands and
        return a concurrent.futures.Future of what the call of that name returns;
        errors (bad operands too) surface from f.result(); only a closed client
        raises at once. Many jobs may be in flight at once."""
        self._check_open()  # a closed client refuses at once, as an executor does
        try:
            return self._submit_future(self._prepare(op, operands, backend, timeline))
        except (TypeError, ValueError, Error) as e:
            if isinstance(e, Error) and (self._closed or self._closing):
                raise
            f = concurrent.futures.Future()
            f.set_running_or_notify_cancel()
            f.set_exception(e)
            return f

    def map(self, op, operands, *, backend=None, timeline=False):
        """Run op on each tuple of operands (a single operand needs no tuple), all
        in flight together, and return their values as a list, in order. The
        first failed job's Error is raised, after every job has finished."""
        items = operands if isinstance(operands, (list, tuple)) else list(operands)
        n = len(items)
        self._check_open()
        if not n:
            return []
        jobs = []
        order = []
        # dot and sum of the same operands are the same request: prepared once.
        same = op in ("dot", "sum") and not timeline
        memo_t, memo = {}, {}
        for t in items:
            if same:
                q = memo_t.get(id(t))
                if q is None:
                    tt = t if isinstance(t, tuple) else (t,)
                    key = tuple(map(id, tt))
                    q = memo.get(key)
                    if q is None:
                        q = memo[key] = len(jobs)
                        jobs.append(self._prepare(op, tt, backend, False))
                    memo_t[id(t)] = q
            else:
                q = len(jobs)
                jobs.append(self._prepare(op, t if isinstance(t, tuple) else (t,), backend,
                                          timeline))
            order.append(q)
        size = L.REQUEST.size
        tb = bytearray(size * len(jobs))
        for q, j in enumerate(jobs):
            j.pack(tb, q * size, 0)
        order = np.array(order, np.intp)
        reqs = np.frombuffer(tb, "<u8").reshape(len(jobs), size // 8)[order]
        with self._lock:
            self._check_open()
            base = next(self._tokens)
            self._tokens = itertools.count(base + n)
            batch = _Batch(base, n)
            self._batches.append(batch)
        reqs[:, 11] = np.arange(base, base + n, dtype=np.uint64)  # user_data
        addr = reqs.ctypes.data
        i = 0
        while i < n:
            space = RING - (self._nsub - self._ncol)
            if space <= 0:
                self._room()
                continue
            with self._lock:
                try:
                    self._check_open()
                    got = self._submit_locked(addr + i * size, min(space, n - i), op)
                except BaseException as e:
                    if i == 0:
                        self._batches.remove(batch)
                        raise
                    # The jobs queued so far finish; the rest never ran.
                    batch.status[i:] = -(e.errno if isinstance(e, OSError) and e.errno
                                         else _errno.EIO)
                    batch.left -= n - i
                    err = e
                    break
                if self._arena.gens:
                    for q in order[i:i + got].tolist():
                        self._touched(jobs[q])
            i += got
        else:
            err = None
        if batch.left == 0 and not batch.done:
            self._batches.remove(batch)
            batch.mark_done()
        self._await(batch)
        if batch.error is not None:
            raise batch.error
        st = batch.status
        bad = np.flatnonzero(st < 0)
        if len(bad):
            q = int(bad[0])
            if q >= i and err is not None:
                raise err
            raise self._job_error(jobs[order[q]], int(st[q]), int(batch.detail[q]))
        if same:
            res = batch.result
            if jobs[0].code == L.F32:
                res = res.astype(np.float32)
            return res.tolist()
        out = []
        r = _Result()
        for q in range(n):
            r.status, r.detail, r.result, r.tlc = 0, 0, float(batch.result[q]), int(batch.tlc[q])
            out.append(jobs[order[q]].finish(r))
        return out


def _collector_main(wr, cv):
    """The client's collector thread: collects completions while futures are in
    flight; sleeps on cv otherwise. Holds the client only while it works."""
    while True:
        with cv:
            while True:
                c = wr()
                if c is None or c._stop:
                    return
                if c._nfut > 0:
                    break
                del c
                cv.wait()
        futs = []
        if not c._pending:
            # The futures' completions were collected by a synchronous caller
            # that has not resolved them yet.
            with cv:
                cv.wait(0.001)
            del c
            continue
        with c._clock:
            if c._pending and not c._closed:
                c._collect(futs, _SLICE_MS)
        c._wake_followers()
        c._resolve(futs)
        del c, futs
