"""``.safetensors``: an 8-byte header length, a JSON header, then each tensor's raw bytes.

Read by offset (only the header is parsed until a tensor is asked for) and written as a
stream (header from shapes, then one tensor at a time), so neither holds more than one
tensor in memory; no safetensors package is needed for either.
"""

import json
import math
import os
import struct

import numpy as np

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.tensor_io import TensorFile, nbytes_of, np_dtype, source_info, write_tensor_bytes

# numpy dtype name <-> safetensors dtype tag
_ST_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
              "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
              "uint16": "U16", "uint32": "U32", "uint64": "U64"}
_ST_NP = {v: k for k, v in _ST_DTYPES.items()}
_MAX_HEADER = 100_000_000


def _checked_header(header, data_size):
    """(metadata, tensor entries) of a parsed header, checked as the safetensors library checks it:
    every entry a known dtype, a shape of non-negative ints and offsets whose byte count fits the
    shape, the tensors' byte ranges tiling the data section exactly (no gap, no overlap, nothing
    past the end). Raises ValueError naming the tensor at fault."""
    if not isinstance(header, dict):
        raise ValueError(f"the header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("__metadata__ is not an object of strings")
    ranges = []
    for name, h in header.items():
        if not isinstance(h, dict):
            raise ValueError(f"tensor {name!r}: its entry is not an object")
        shape, offsets, dtype = h.get("shape"), h.get("data_offsets"), h.get("dtype")
        if not isinstance(dtype, str) or dtype not in _ST_NP:
            raise ValueError(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise ValueError(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
            raise ValueError(f"tensor {name!r}: data_offsets {offsets!r} are not two non-negative integers")
        begin, end = offsets
        nbytes = math.prod(shape) * np_dtype(_ST_NP[dtype]).itemsize  # Python ints: no overflow
        if end - begin != nbytes:
            raise ValueError(f"tensor {name!r}: data_offsets {offsets} hold {end - begin} bytes, "
                             f"not the {nbytes} of shape {shape} {dtype}")
        ranges.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(ranges):
        if begin != position:
            problem = "overlaps the one before it" if begin < position else f"leaves a gap at byte {position}"
            raise ValueError(f"tensor {name!r}: data_offsets [{begin}, {end}] {problem}")
        if end > data_size:
            raise ValueError(f"tensor {name!r} lies past the end of the file (byte {end} of a data section of "
                             f"{data_size}); the file is truncated or corrupt")
        position = end
    if position != data_size:
        raise ValueError(f"the tensors hold {position} bytes but the data section has {data_size}")
    return metadata, header


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class SafetensorsFile(TensorFile):
    """``.safetensors`` read by offset: only the header is parsed until a tensor is asked for."""

    def __init__(self, path):
        self.path = path
        self._size = os.path.getsize(path)
        try:
            with open(path, "rb") as f:
                raw = f.read(8)
                if len(raw) < 8:
                    raise ValueError("the file is shorter than its 8-byte header length")
                (n,) = struct.unpack("<Q", raw)
                if n > self._size - 8 or n > _MAX_HEADER:
                    raise ValueError(f"header length {n} runs past the end of the file ({self._size} bytes)")
                header = json.loads(f.read(n))
            self._start = 8 + n
            self.metadata, self._header = _checked_header(header, self._size - self._start)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise CheckpointError(f"{path} is not a valid safetensors file ({e}).") from None

    def keys(self):
        return list(self._header)

    def info(self, name):
        h = self._header[name]
        return tuple(h["shape"]), np_dtype(_ST_NP[h["dtype"]])

    def raw_location(self, name):
        begin, end = self._header[name]["data_offsets"]
        return self.path, self._start + begin, end - begin

    def get(self, name):
        shape, dtype = self.info(name)
        begin, end = self._header[name]["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != end - begin:
            raise CheckpointError(f"{self.path}: tensor {name!r} has {end - begin} bytes for shape {shape}.")
        with open(self.path, "rb") as f:
            f.seek(self._start + begin)
            array = np.fromfile(f, dtype=dtype, count=count)
        if array.size != count:
            raise CheckpointError(f"{self.path}: tensor {name!r} is truncated.")
        return array.reshape(shape)


def write_safetensors(tensors, names, path, progress=None, metadata=None, **_):
    """Streams a safetensors file of ``names`` of ``tensors``; returns the bytes of tensor data written."""
    header, offset, infos = {}, 0, []
    for name in names:
        shape, dtype = source_info(tensors, name)
        dtype = np.dtype(dtype)
        tag = _ST_DTYPES.get(str(dtype))
        if tag is None:
            raise CheckpointError(f"Tensor {name!r} has dtype {dtype}, which safetensors cannot store.")
        nbytes = nbytes_of(shape, dtype)
        header[name] = {"dtype": tag, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        infos.append((name, shape, dtype, nbytes))
        offset += nbytes
    header["__metadata__"] = {"format": "pt", **(metadata or {})}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape, dtype, nbytes in infos:
            write_tensor_bytes(f, tensors, name, shape, dtype)
            if progress:
                progress(nbytes)
    return offset
