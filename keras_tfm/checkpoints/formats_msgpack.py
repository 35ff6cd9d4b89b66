"""``flax_model.msgpack``: ``flax.serialization.to_bytes`` of the nested parameter dict.

No flax or msgpack package is needed: this module parses the msgpack structure itself,
recording where each array's bytes lie, so a tensor is read from disk only when asked
for (and a truncated file is caught while parsing, naming the tensor it cut). Arrays are
msgpack extension 1 holding ``(shape, dtype name, raw bytes)``; numpy scalars are
extension 3 ``(dtype name, raw bytes)``; arrays over 1 GiB are stored as flax's
``__msgpack_chunked_array__`` dicts. Keys are the nested dict path joined with ``/``
(``bert/encoder/layer/0/attention/self/query/kernel``), as in HF's shard index.
"""

import mmap
import struct

import numpy as np

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.tensor_io import TensorFile, np_dtype, source_info, write_tensor_bytes

_EXT_NDARRAY, _EXT_COMPLEX, _EXT_SCALAR = 1, 2, 3
_CHUNKED = "__msgpack_chunked_array__"
MAX_CHUNK_SIZE = 2**30  # flax's


class _Truncated(Exception):
    pass


class _Reader:
    """A minimal msgpack decoder over a buffer that returns offsets for binary payloads."""

    def __init__(self, buf, start=0, end=None):
        self.buf, self.pos, self.end = buf, start, len(buf) if end is None else end
        self.stack = []  # the dict path being read, for error messages

    def take(self, n):
        if self.pos + n > self.end:
            raise _Truncated()
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _u(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def read(self):
        """A python value; bin payloads come back as ('bin', offset, length), ext as ('ext', type, offset, length)."""
        t = self.take(1)[0]
        if t <= 0x7F:
            return t
        if t >= 0xE0:
            return t - 0x100
        if 0x80 <= t <= 0x8F:
            return self._map(t & 0x0F)
        if 0x90 <= t <= 0x9F:
            return [self.read() for _ in range(t & 0x0F)]
        if 0xA0 <= t <= 0xBF:
            return self.take(t & 0x1F).decode("utf8")
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if t in simple:
            return simple[t]
        if t in (0xC4, 0xC5, 0xC6):
            n = self._u({0xC4: "B", 0xC5: ">H", 0xC6: ">I"}[t], {0xC4: 1, 0xC5: 2, 0xC6: 4}[t])
            off = self.pos
            self.take_skip(n)
            return ("bin", off, n)
        if t in (0xC7, 0xC8, 0xC9):
            n = self._u({0xC7: "B", 0xC8: ">H", 0xC9: ">I"}[t], {0xC7: 1, 0xC8: 2, 0xC9: 4}[t])
            return self._ext(n)
        if 0xD4 <= t <= 0xD8:
            return self._ext(1 << (t - 0xD4))
        ints = {0xCC: (">B", 1), 0xCD: (">H", 2), 0xCE: (">I", 4), 0xCF: (">Q", 8),
                0xD0: (">b", 1), 0xD1: (">h", 2), 0xD2: (">i", 4), 0xD3: (">q", 8),
                0xCA: (">f", 4), 0xCB: (">d", 8)}
        if t in ints:
            return self._u(*ints[t])
        if t in (0xD9, 0xDA, 0xDB):
            n = self._u({0xD9: "B", 0xDA: ">H", 0xDB: ">I"}[t], {0xD9: 1, 0xDA: 2, 0xDB: 4}[t])
            return self.take(n).decode("utf8")
        if t in (0xDC, 0xDD):
            n = self._u(">H" if t == 0xDC else ">I", 2 if t == 0xDC else 4)
            return [self.read() for _ in range(n)]
        if t in (0xDE, 0xDF):
            return self._map(self._u(">H" if t == 0xDE else ">I", 2 if t == 0xDE else 4))
        raise ValueError(f"byte 0x{t:02x} at offset {self.pos - 1} is not valid msgpack")

    def take_skip(self, n):
        if self.pos + n > self.end:
            raise _Truncated()
        self.pos += n

    def _ext(self, n):
        code = struct.unpack("b", self.take(1))[0]
        off = self.pos
        self.take_skip(n)
        return ("ext", code, off, n)

    def _map(self, n):
        # Keys are read eagerly; values are returned as readers positioned on them.
        out = {}
        for _ in range(n):
            key = self.read()
            self.stack.append(str(key))
            out[str(key)] = self.read()
            self.stack.pop()
        return out


class _Ref:
    """Where one array's bytes lie in the file."""

    def __init__(self, shape, dtype, offset, nbytes, chunks=None):
        self.shape, self.dtype, self.offset, self.nbytes, self.chunks = shape, dtype, offset, nbytes, chunks


class MsgpackFile(TensorFile):
    def __init__(self, path):
        self.path = path
        self._refs = {}
        try:
            with open(path, "rb") as f:
                size = f.seek(0, 2)
                if size == 0:
                    raise ValueError("the file is empty")
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                    reader = _Reader(buf)
                    try:
                        tree = reader.read()
                    except _Truncated:
                        raise CheckpointError(
                            f"{path} is truncated: the msgpack data ends at byte {size} while "
                            f"{'/'.join(reader.stack) or 'the first tensor'!r} is still being read."
                        ) from None
                    if not isinstance(tree, dict):
                        raise ValueError("the top level is not a dict of parameters")
                    self._collect(tree, (), buf)
        except CheckpointError:
            raise
        except (ValueError, UnicodeDecodeError, struct.error) as e:
            raise CheckpointError(f"{path} is not a valid flax msgpack file: {e}") from None
        except (KeyError, TypeError, IndexError, AttributeError, OverflowError) as e:  # a record of the wrong shape
            raise CheckpointError(f"{path} is not a valid flax msgpack file: a malformed record "
                                  f"({type(e).__name__}: {e})") from None

    def _collect(self, node, path, buf):
        if isinstance(node, dict):
            if node.get(_CHUNKED) is True:
                self._chunked(node, path, buf)
                return
            for key, value in node.items():
                self._collect(value, path + (key,), buf)
            return
        name = "/".join(path)
        if isinstance(node, tuple) and node[0] == "ext" and node[1] in (_EXT_NDARRAY, _EXT_SCALAR):
            self._refs[name] = self._array_ref(node, name, buf)
        else:
            raise ValueError(f"{name!r} is not an array (found {type(node).__name__})")

    def _array_ref(self, node, name, buf):
        _, code, off, n = node
        inner = _Reader(buf, off, off + n)
        try:
            value = inner.read()
        except _Truncated:
            raise ValueError(f"the array record of {name!r} is cut short") from None
        if not isinstance(value, (list, tuple)) or len(value) != (3 if code == _EXT_NDARRAY else 2):
            raise ValueError(f"the array record of {name!r} is malformed")
        if code == _EXT_NDARRAY:
            shape, dtype, data = value
        else:
            (dtype, data), shape = value, []
        if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"{name!r} has a malformed shape {shape!r}")
        dtype = np_dtype(dtype)
        if not (isinstance(data, tuple) and data[0] == "bin"):
            raise ValueError(f"{name!r} has no raw data")
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != data[2]:
            raise ValueError(f"{name!r}: {data[2]} bytes for shape {tuple(shape)} {dtype}")
        return _Ref(tuple(shape), dtype, data[1], data[2])

    def _chunked(self, node, path, buf):
        name = "/".join(path)
        shape = tuple(node["shape"][str(i)] for i in range(len(node["shape"])))
        chunks = [self._array_ref(node["chunks"][str(i)], name, buf) for i in range(len(node["chunks"]))]
        dtype = chunks[0].dtype
        self._refs[name] = _Ref(shape, dtype, None, sum(c.nbytes for c in chunks), chunks=chunks)

    def keys(self):
        return list(self._refs)

    def info(self, name):
        r = self._refs[name]
        return r.shape, r.dtype

    def raw_location(self, name):
        r = self._refs[name]
        return None if r.chunks else (self.path, r.offset, r.nbytes)

    def get(self, name):
        r = self._refs[name]
        parts = r.chunks or [r]
        out = []
        with open(self.path, "rb") as f:
            for p in parts:
                f.seek(p.offset)
                a = np.fromfile(f, dtype=p.dtype, count=p.nbytes // p.dtype.itemsize)
                if a.nbytes != p.nbytes:
                    raise CheckpointError(f"{self.path}: tensor {name!r} is truncated.")
                out.append(a)
        a = out[0] if len(out) == 1 else np.concatenate(out)
        return a.reshape(r.shape)


# ---- writing --------------------------------------------------------------------------
def _pack_int(n):
    if 0 <= n <= 0x7F:
        return bytes([n])
    if 0 <= n <= 0xFF:
        return b"\xcc" + struct.pack(">B", n)
    if 0 <= n <= 0xFFFF:
        return b"\xcd" + struct.pack(">H", n)
    if 0 <= n <= 0xFFFFFFFF:
        return b"\xce" + struct.pack(">I", n)
    return b"\xcf" + struct.pack(">Q", n)


def _pack_str(s):
    b = s.encode("utf8")
    n = len(b)
    if n <= 31:
        return bytes([0xA0 | n]) + b
    if n <= 0xFF:
        return b"\xd9" + struct.pack(">B", n) + b
    if n <= 0xFFFF:
        return b"\xda" + struct.pack(">H", n) + b
    return b"\xdb" + struct.pack(">I", n) + b


def _pack_len(n, fix, fixmax, c16, c32):
    if n <= fixmax:
        return bytes([fix | n])
    if n <= 0xFFFF:
        return bytes([c16]) + struct.pack(">H", n)
    return bytes([c32]) + struct.pack(">I", n)


def _map_header(n):
    return _pack_len(n, 0x80, 15, 0xDE, 0xDF)


def _array_header(n):
    return _pack_len(n, 0x90, 15, 0xDC, 0xDD)


def _bin_header(n):
    if n <= 0xFF:
        return b"\xc4" + struct.pack(">B", n)
    if n <= 0xFFFF:
        return b"\xc5" + struct.pack(">H", n)
    return b"\xc6" + struct.pack(">I", n)


def _ext_header(code, n):
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if n in fixed:
        return bytes([fixed[n]]) + struct.pack("b", code)
    if n <= 0xFF:
        return b"\xc7" + struct.pack(">B", n) + struct.pack("b", code)
    if n <= 0xFFFF:
        return b"\xc8" + struct.pack(">H", n) + struct.pack("b", code)
    return b"\xc9" + struct.pack(">I", n) + struct.pack("b", code)


def _array_prefix(f, shape, dtype):
    """The header of one ndarray record: ext 1 around msgpack (shape, dtype name, raw bytes)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    dtype_name = "bfloat16" if str(dtype) == "bfloat16" else dtype.name
    prefix = _array_header(3) + _array_header(len(shape)) + b"".join(_pack_int(int(d)) for d in shape)
    prefix += _pack_str(dtype_name) + _bin_header(nbytes)
    f.write(_ext_header(_EXT_NDARRAY, len(prefix) + nbytes))
    f.write(prefix)


def _write_array(f, shape, a):
    _array_prefix(f, shape, a.dtype)
    f.write(memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8)))


def _tree(names):
    root = {}
    for name in names:
        node = root
        parts = name.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise CheckpointError(f"Flax name {name!r} nests under a tensor of the same name.")
        node[parts[-1]] = name
    return root


def write_msgpack(tensors, names, path, progress=None, **_):
    """Streams ``names`` of ``tensors`` into a msgpack file that ``flax.serialization.from_bytes`` reads."""
    total = [0]

    with open(path, "wb") as f:

        def write(node):
            f.write(_map_header(len(node)))
            for key, value in node.items():
                f.write(_pack_str(key))
                if isinstance(value, dict):
                    write(value)
                    continue
                shape, dtype = source_info(tensors, value)
                nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
                if nbytes <= MAX_CHUNK_SIZE:
                    _array_prefix(f, shape, dtype)
                    write_tensor_bytes(f, tensors, value, shape, dtype)
                else:  # flax's chunked layout for arrays over 1 GiB
                    a = np.ascontiguousarray(tensors[value])
                    flat = a.reshape(-1)
                    n = int(np.ceil(a.nbytes / MAX_CHUNK_SIZE))
                    f.write(_map_header(3) + _pack_str(_CHUNKED) + b"\xc3" + _pack_str("shape"))
                    f.write(_map_header(len(shape)) + b"".join(_pack_str(str(i)) + _pack_int(int(d)) for i, d in enumerate(shape)))
                    f.write(_pack_str("chunks"))
                    pieces = np.array_split(flat, n)
                    f.write(_map_header(len(pieces)))
                    for i, piece in enumerate(pieces):
                        f.write(_pack_str(str(i)))
                        _write_array(f, piece.shape, piece)
                total[0] += nbytes
                if progress:
                    progress(nbytes)

        write(_tree(names))
    return total[0]


__all__ = ["MsgpackFile", "write_msgpack"]
