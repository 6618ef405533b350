# Work arrays of the sweeps of cysrc/sweeps.pyx (included there): one buffer per
# thread, kept for the next call, from which every sweep carves its arrays.

_tls = threading.local()

#: Work buffers up to this many bytes are kept (one per thread) for the next call,
#: which saves the kernel's page zeroing of fresh memory on repeated sweeps.
WORKSPACE_KEEP_BYTES = 1 << 28


def release_workspace():
    """Drop the calling thread's cached work buffer."""
    _tls.buf = None


def kept_workspace_bytes():
    """Bytes of the calling thread's cached work buffer (0 when none)."""
    buf = getattr(_tls, "buf", None)
    return 0 if buf is None else buf.nbytes


def _work_arrays(float_sizes, flag_sizes):
    """Uninitialized float64 arrays of ``float_sizes`` and uint8 arrays of
    ``flag_sizes``, carved from the calling thread's cached work buffer."""
    words = [(s + 7) // 8 for s in flag_sizes]
    total = sum(float_sizes) + sum(words)
    buf = getattr(_tls, "buf", None)
    if buf is None or buf.shape[0] < total:
        buf = np.empty(max(total, 1))
        if 8 * total <= WORKSPACE_KEEP_BYTES:
            _tls.buf = buf
    out = []
    off = 0
    for size in float_sizes:
        out.append(buf[off:off + size])
        off += size
    for size, w in zip(flag_sizes, words):
        out.append(buf[off:off + w].view(np.uint8)[:size])
        off += w
    return out


def _compressed_out(shape, finish, float_sizes, flag_sizes):
    """The compressed output array of a sweep (float64, ``shape``, uninitialized)
    and its work arrays (as :func:`_work_arrays`).

    With ``finish`` None the output is a new array, returned to the caller.
    Otherwise the sweep returns ``finish(output)`` instead (a prepared
    derivative passes its decompression): the output is then carved from the
    thread's work buffer too, so repeated calls reuse memory rather than
    fault in fresh pages for it every time. ``finish`` runs before the sweep
    returns, on the same thread, so no other sweep can overwrite the output
    before it is read; it must not keep a reference to it.
    """
    cdef Py_ssize_t size = shape[0] * shape[1]
    if finish is None:
        return np.empty(shape), _work_arrays(float_sizes, flag_sizes)
    arrays = _work_arrays(list(float_sizes) + [size], flag_sizes)
    out = arrays.pop(len(float_sizes))
    return out.reshape(shape), arrays


def _zeros(shape):
    """A zero array written here rather than by ``np.zeros``: large ``calloc`` blocks
    are fresh pages that the kernel zeroes on first touch, in every call, while
    ``np.empty`` reuses freed memory."""
    out = np.empty(shape)
    out.fill(0.0)
    return out
