"""``.safetensors``: an 8-byte header length, a JSON header, then each tensor's raw bytes.

Read by offset (only the header is parsed until a tensor is asked for) and written as a
stream (header from shapes, then one tensor at a time), so neither holds more than one
tensor in memory; no safetensors package is needed for either.
"""

import json
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
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is not a valid safetensors file ({e}).") from None
        self.metadata = header.pop("__metadata__", None) or {}
        self._start = 8 + n
        self._header = header
        for name, h in header.items():
            begin, end = h.get("data_offsets", (0, -1))
            if h.get("dtype") not in _ST_NP or end < begin or self._start + end > self._size:
                raise CheckpointError(
                    f"{path}: tensor {name!r} lies past the end of the file or has an unknown dtype "
                    f"({h.get('dtype')}); the file is truncated or corrupt."
                )

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
