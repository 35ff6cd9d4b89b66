"""What every checkpoint format shares: tensor files, lazy ``name -> array`` views, raw byte copies.

A format module (``formats_safetensors``, ``formats_torch``, ``formats_h5``,
``formats_msgpack``) provides one ``TensorFile`` reader and one writer function; this
module knows none of them. Every mapping here is lazy: ``info(name)`` answers shape and
dtype from headers, a tensor is read only when asked for, and ``raw_location`` lets a
writer copy a tensor's bytes file to file when nothing changes them on the way.
"""

import os
from collections.abc import Mapping

import numpy as np

from keras_tfm.checkpoints.errors import CheckpointError


# The tensor dtypes a checkpoint may name; numpy would also parse structured types from any string.
TENSOR_DTYPES = frozenset(["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                           "float16", "float32", "float64", "bfloat16", "complex64", "complex128"])


def np_dtype(name):
    """numpy dtype from a name, bfloat16 included (through ml_dtypes); ValueError for anything else."""
    if isinstance(name, np.dtype):
        name = name.name
    if not isinstance(name, str) or name not in TENSOR_DTYPES:
        raise ValueError(f"{name!r} is not a tensor dtype")
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def is_float(dtype):
    return np.issubdtype(dtype, np.floating) or str(dtype) == "bfloat16"


def nbytes_of(shape, dtype):
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


class TensorFile:
    """One weight file: ``keys()``, ``info(name) -> (shape, dtype)`` and ``get(name)``.

    A reader whose tensors lie in the file as raw little-endian bytes also has
    ``raw_location(name) -> (path, offset, nbytes)``.
    """

    path = ""

    def keys(self):
        raise NotImplementedError

    def info(self, name):
        a = self.get(name)
        return tuple(a.shape), a.dtype

    def get(self, name):
        raise NotImplementedError

    def close(self):
        pass


class Checkpoint(Mapping):
    """``name -> numpy array`` over the opened ``TensorFile``s of one checkpoint, in the format's own names."""

    def __init__(self, files, fmt):
        self.format = fmt
        self.files = list(files)
        self._where = {}
        for f in self.files:
            for name in f.keys():
                self._where[name] = f

    def __getitem__(self, name):
        f = self._where[name]
        try:
            return f.get(name)
        except CheckpointError:
            raise
        except Exception as e:  # corrupt data past a valid header
            raise CheckpointError(f"Cannot read tensor {name!r} from {f.path}: {e}") from None

    def info(self, name):
        return self._where[name].info(name)

    def raw_location(self, name):
        f = self._where[name]
        return f.raw_location(name) if hasattr(f, "raw_location") else None

    def file_of(self, name):
        return self._where[name].path

    def __iter__(self):
        return iter(self._where)

    def __len__(self):
        return len(self._where)


def source_info(mapping, name):
    """``(shape, dtype)`` of tensor ``name``, from headers when the mapping can tell."""
    if hasattr(mapping, "info"):
        return mapping.info(name)
    a = mapping[name]
    return tuple(np.shape(a)), np.asarray(a).dtype


def raw_location(mapping, name):
    """``(path, offset, nbytes)`` when tensor ``name`` lies in a file exactly as a writer needs it
    (contiguous, little-endian, no transform or cast on the way); None otherwise."""
    fn = getattr(mapping, "raw_location", None)
    return fn(name) if fn is not None else None


def file_of(mapping, name):
    """The file tensor ``name`` comes from, for error messages."""
    return mapping.file_of(name) if hasattr(mapping, "file_of") else "the checkpoint"


class Renamed(Mapping):
    """A lazy view of ``source`` under new names: ``{new: (old, transform or None)}``.

    A transform is an array function; its ``shape_fn`` (if any) maps shapes for headers.
    """

    def __init__(self, source, table):
        self.source, self.table = source, table

    def __getitem__(self, name):
        old, fn = self.table[name]
        array = self.source[old]
        return fn(array) if fn is not None else array

    def info(self, name):
        old, fn = self.table[name]
        shape, dtype = source_info(self.source, old)
        if fn is None:
            return shape, dtype
        return tuple(getattr(fn, "shape_fn", lambda s: s)(shape)), dtype

    def file_of(self, name):
        return file_of(self.source, self.table[name][0])

    def source_name(self, name):
        return self.table[name][0]

    def raw_location(self, name):
        old, fn = self.table[name]
        return raw_location(self.source, old) if fn is None else None

    def __iter__(self):
        return iter(self.table)

    def __len__(self):
        return len(self.table)


def rename_all(source, rename, names_from, names_to):
    """A ``Renamed`` view of ``source`` through ``rename(name) -> (new name, transform)`` (a None name drops it).

    Raises CheckpointError naming the file when two tensors would get one name.
    """
    table = {}
    for name in source:
        new, transform = rename(name)
        if new is None:
            continue
        if new in table:
            raise CheckpointError(
                f"{file_of(source, name)}: {names_from} tensors {table[new][0]!r} and {name!r} both map to the "
                f"{names_to} name {new!r}."
            )
        table[new] = (name, transform)
    return Renamed(source, table)


class Cast(Mapping):
    """A lazy view of ``source`` with floating-point tensors cast to ``dtype``."""

    def __init__(self, source, dtype):
        self.source, self.dtype = source, np_dtype(dtype)

    def __getitem__(self, name):
        a = self.source[name]
        return a.astype(self.dtype) if is_float(a.dtype) and a.dtype != self.dtype else a

    def info(self, name):
        shape, dtype = source_info(self.source, name)
        return shape, (self.dtype if is_float(dtype) else dtype)

    def raw_location(self, name):
        _, dtype = source_info(self.source, name)
        return raw_location(self.source, name) if np.dtype(dtype) == self.dtype or not is_float(dtype) else None

    def file_of(self, name):
        return file_of(self.source, name)

    def __iter__(self):
        return iter(self.source)

    def __len__(self):
        return len(self.source)


_CHUNK = 64 * 2**20


def _copy_range(src_path, src_off, dst_fd, dst_off, n, name):
    """Copies ``n`` bytes between files in the kernel (copy_file_range), by 64 MiB chunks otherwise."""
    with open(src_path, "rb") as src:
        while n > 0:
            try:
                done = os.copy_file_range(src.fileno(), dst_fd, min(n, 2**30), src_off, dst_off)
            except (AttributeError, OSError):
                data = os.pread(src.fileno(), min(n, _CHUNK), src_off)
                done = os.pwrite(dst_fd, data, dst_off) if data else 0
            if done == 0:
                raise CheckpointError(f"{src_path}: tensor {name!r} is truncated (the file ends inside it).")
            n, src_off, dst_off = n - done, src_off + done, dst_off + done


def write_tensor_bytes(f, tensors, name, shape, dtype):
    """Writes tensor ``name``'s raw little-endian bytes at ``f``'s position; file to file when the source allows."""
    dtype = np.dtype(dtype)
    nbytes = nbytes_of(shape, dtype)
    loc = raw_location(tensors, name)
    if loc is not None and loc[2] == nbytes:
        f.flush()
        pos = f.tell()
        _copy_range(loc[0], loc[1], f.fileno(), pos, nbytes, name)
        f.seek(pos + nbytes)
        return nbytes
    a = np.require(tensors[name], requirements="C")  # ascontiguousarray would make a 0-d tensor 1-d
    if tuple(a.shape) != tuple(shape) or a.dtype != dtype:
        raise CheckpointError(f"Tensor {name!r}: expected {tuple(shape)} {dtype}, got {a.shape} {a.dtype}.")
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    f.write(memoryview(a.reshape(-1).view(np.uint8)))
    return nbytes
