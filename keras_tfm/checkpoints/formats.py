"""The checkpoint format layer: one reader and one writer per format, ``name -> numpy array``.

| format  | files                                                        | names inside          |
| ------- | ------------------------------------------------------------ | --------------------- |
| ``safetensors`` | ``model.safetensors`` (+ ``-0000i-of-0000n`` shards, index)    | HF PyTorch            |
| ``bin``  | ``pytorch_model.bin`` (+ shards, index)                       | HF PyTorch            |
| ``tf``   | ``tf_model.h5`` (TF-Keras 2 HDF5 as HF TF models wrote it; + shards, index) | HF TensorFlow |
| ``flax`` | ``flax_model.msgpack`` (flax.serialization msgpack; + shards, index) | HF Flax ("/"-joined) |
| ``keras``| ``model.weights.h5`` / ``model.keras`` (Keras 3 native, our own models) | through the model |

Readers are lazy: opening a checkpoint reads headers only; a tensor is read from disk when
asked for, one at a time (safetensors and msgpack by offset, ``.bin`` memory-mapped by
torch, HDF5 through h5py), so converting never holds more than one tensor (or, for the
pickle and TF formats, one shard) in memory. Writers take any ``name -> array`` mapping
and pull one tensor at a time; every file is written to a temporary name and renamed.

Names are translated to and from HF PyTorch names by ``tf_names`` and ``flax_names``;
``open_hf_state`` gives any checkpoint as a mapping in HF PyTorch names and layouts.
"""

import json
import os
import re
import struct
from collections.abc import Mapping

import numpy as np

from keras_tfm.checkpoints.hub import ModelNotFoundError, resolve_file
from keras_tfm.checkpoints.state_dict import CheckpointError, parse_size
from keras_tfm.utils.io import atomic_path, atomic_write_text

# format -> (single file, index file, shard pattern); searched in this order when no
# format is asked for (safetensors first, as Hugging Face does).
FORMATS = {
    "safetensors": ("model.safetensors", "model.safetensors.index.json", "model-{i:05d}-of-{n:05d}.safetensors"),
    "bin": ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-{i:05d}-of-{n:05d}.bin"),
    "tf": ("tf_model.h5", "tf_model.h5.index.json", "tf_model-{i:05d}-of-{n:05d}.h5"),
    "flax": ("flax_model.msgpack", "flax_model.msgpack.index.json", "flax_model-{i:05d}-of-{n:05d}.msgpack"),
}
KERAS_WEIGHTS_NAME = "model.weights.h5"
KERAS_MODEL_NAME = "model.keras"
PT_FORMATS = ("safetensors", "bin")
ALL_FORMATS = (*FORMATS, "keras")

# numpy dtype name <-> safetensors dtype tag
_ST_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
              "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
              "uint16": "U16", "uint32": "U32", "uint64": "U64"}
_ST_NP = {v: k for k, v in _ST_DTYPES.items()}


def np_dtype(name):
    """numpy dtype from a name, bfloat16 included (through ml_dtypes)."""
    if str(name) == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------
class TensorFile:
    """One weight file: ``keys()``, ``info(name) -> (shape, dtype)`` and ``get(name)``."""

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
                if n > self._size - 8 or n > 100_000_000:
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


class TorchBinFile(TensorFile):
    """``pytorch_model.bin``: ``torch.load(weights_only=True, mmap=True)``; code is refused, never run."""

    def __init__(self, path):
        self.path = path
        try:
            import torch
        except ImportError:
            raise CheckpointError(f"Reading {path} needs PyTorch (pip install torch).") from None
        try:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                state = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
        except Exception as e:
            raise CheckpointError(
                f"{path} cannot be read as plain tensors with torch.load(weights_only=True) (a pickle that "
                f"carries code is refused, and a truncated file fails here too): {str(e).splitlines()[0]}"
            ) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path} does not hold a name -> tensor dictionary.")
        self._state = state

    def keys(self):
        return list(self._state)

    def info(self, name):
        t = self._state[name]
        return tuple(t.shape), np_dtype(str(t.dtype).replace("torch.", ""))

    def get(self, name):
        import torch

        t = self._state[name]
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np_dtype("bfloat16")).copy()
        return t.numpy().copy()


def open_file(path, fmt=None):
    """The ``TensorFile`` for one weight file, by format or by extension."""
    fmt = fmt or _format_of_file(path)
    if fmt == "safetensors":
        return SafetensorsFile(path)
    if fmt == "bin":
        return TorchBinFile(path)
    if fmt == "tf":
        from keras_tfm.checkpoints.formats_h5 import TFH5File

        return TFH5File(path)
    if fmt == "flax":
        from keras_tfm.checkpoints.formats_msgpack import MsgpackFile

        return MsgpackFile(path)
    raise CheckpointError(f"{path}: unknown weight file type (expected .safetensors, .bin, .h5 or .msgpack).")


def _format_of_file(path):
    for ext, fmt in ((".safetensors", "safetensors"), (".bin", "bin"), (".h5", "tf"), (".msgpack", "flax")):
        if path.endswith(ext):
            return fmt
    return None


class Checkpoint(Mapping):
    """``name -> numpy array`` over the files of one checkpoint, in the format's own names."""

    def __init__(self, files, fmt):
        self.format = fmt
        self.files = [f if isinstance(f, TensorFile) else open_file(f, fmt) for f in files]
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


def find_checkpoint(path_or_id, fmt=None, **hub_kwargs):
    """``(format, [files])`` of a model folder or hub id; ``fmt=None`` finds one, safetensors first."""
    if os.path.isfile(os.fspath(path_or_id)) and fmt is None:
        path = os.fspath(path_or_id)
        found = _format_of_file(path)
        if found is None:
            raise CheckpointError(f"{path}: unknown weight file type.")
        return found, [path]
    if fmt not in (None, "pt", "keras_archive", *FORMATS, "keras"):
        raise ValueError(f"Unknown weights format {fmt!r}; use one of pt, {', '.join(FORMATS)}, keras.")
    order = [fmt] if fmt else list(FORMATS)
    if fmt == "pt":
        order = list(PT_FORMATS)
    if fmt == "keras_archive":
        order = ["keras"]
    for f in order:
        if f == "keras":
            for name in (KERAS_WEIGHTS_NAME, KERAS_MODEL_NAME):
                p = resolve_file(path_or_id, name, required=False, **hub_kwargs)
                if p:
                    return "keras", [p]
            continue
        single, index, _ = FORMATS[f]
        p = resolve_file(path_or_id, single, required=False, **hub_kwargs)
        if p:
            return f, [p]
        p = resolve_file(path_or_id, index, required=False, **hub_kwargs)
        if p:
            return f, _index_files(path_or_id, p, hub_kwargs)
    if fmt is None:  # our own Keras-native save, last
        return find_checkpoint(path_or_id, "keras", **hub_kwargs) if _has_keras(path_or_id, hub_kwargs) else _none(
            path_or_id, order)
    return _none(path_or_id, order)


def _has_keras(path_or_id, hub_kwargs):
    return any(resolve_file(path_or_id, n, required=False, **hub_kwargs) for n in (KERAS_WEIGHTS_NAME, KERAS_MODEL_NAME))


def _none(path_or_id, order):
    names = [n for f in order for n in (FORMATS[f][:2] if f in FORMATS else (KERAS_WEIGHTS_NAME, KERAS_MODEL_NAME))]
    raise ModelNotFoundError(f"{os.fspath(path_or_id)!r} has no weights: looked for {', '.join(names)}.")


def read_index(path):
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
            raise ValueError("no 'weight_map' object")
        return index
    except (ValueError, AttributeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not a valid checkpoint index: {e}") from None


def _index_files(path_or_id, index_path, hub_kwargs):
    index = read_index(index_path)
    files = []
    for shard in sorted(set(index["weight_map"].values())):
        p = resolve_file(path_or_id, shard, required=False, **hub_kwargs)
        if p is None:
            names = [t for t, s in index["weight_map"].items() if s == shard]
            raise CheckpointError(
                f"{index_path} names the shard {shard!r} (holding {names[0]!r}"
                f"{f' and {len(names) - 1} more' if len(names) > 1 else ''}), which does not exist."
            )
        files.append(p)
    return files


def open_checkpoint(path_or_id, fmt=None, **hub_kwargs):
    """The raw ``Checkpoint`` (names as the format stores them) of a folder, hub id or file."""
    fmt, files = find_checkpoint(path_or_id, fmt, **hub_kwargs)
    if fmt == "keras":
        raise CheckpointError(
            f"{files[0]} is a Keras-native save: it is read through the model "
            "(Model.from_pretrained / keras-tfm convert), not tensor by tensor."
        )
    return Checkpoint(files, fmt)


def open_hf_state(path_or_id, fmt=None, model_type=None, architecture=None, **hub_kwargs):
    """Any checkpoint as a lazy mapping in HF PyTorch names and layouts (``file_of`` included)."""
    ckpt = open_checkpoint(path_or_id, fmt, **hub_kwargs)
    if ckpt.format in PT_FORMATS:
        return ckpt
    if ckpt.format == "tf":
        from keras_tfm.checkpoints.tf_names import tf_to_pt

        return tf_to_pt(ckpt, model_type=model_type, architecture=architecture)
    from keras_tfm.checkpoints.flax_names import flax_to_pt

    return flax_to_pt(ckpt, model_type=model_type)


class Renamed(Mapping):
    """A lazy view of ``source`` under new names: ``{new: (old, transform)}``."""

    def __init__(self, source, table, info_fn=None):
        self.source, self.table, self._info_fn = source, table, info_fn

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
        old, _ = self.table[name]
        return self.source.file_of(old) if hasattr(self.source, "file_of") else "the checkpoint"

    def source_name(self, name):
        return self.table[name][0]

    def raw_location(self, name):
        old, fn = self.table[name]
        return raw_location(self.source, old) if fn is None else None

    def __iter__(self):
        return iter(self.table)

    def __len__(self):
        return len(self.table)


def source_info(mapping, name):
    if hasattr(mapping, "info"):
        return mapping.info(name)
    a = mapping[name]
    return tuple(np.shape(a)), np.asarray(a).dtype


def raw_location(mapping, name):
    """``(path, offset, nbytes)`` when tensor ``name`` lies in a file exactly as a writer needs it
    (contiguous, little-endian, no transform or cast on the way); None otherwise."""
    fn = getattr(mapping, "raw_location", None)
    return fn(name) if fn is not None else None


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
    """Writes tensor ``name``'s raw bytes at ``f``'s position; file to file when the source allows."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    loc = raw_location(tensors, name)
    if loc is not None and loc[2] == nbytes:
        f.flush()
        pos = f.tell()
        _copy_range(loc[0], loc[1], f.fileno(), pos, nbytes, name)
        f.seek(pos + nbytes)
        return nbytes
    a = np.ascontiguousarray(tensors[name])
    if tuple(a.shape) != tuple(shape) or a.dtype != dtype:
        raise CheckpointError(f"Tensor {name!r}: expected {tuple(shape)} {dtype}, got {a.shape} {a.dtype}.")
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    f.write(memoryview(a.reshape(-1).view(np.uint8)))
    return nbytes


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
class Cast(Mapping):
    """A lazy view of ``source`` with floating-point tensors cast to ``dtype``."""

    def __init__(self, source, dtype):
        self.source, self.dtype = source, np_dtype(dtype)

    def __getitem__(self, name):
        a = self.source[name]
        return a.astype(self.dtype) if _is_float(a.dtype) and a.dtype != self.dtype else a

    def info(self, name):
        shape, dtype = source_info(self.source, name)
        return shape, (self.dtype if _is_float(dtype) else dtype)

    def raw_location(self, name):
        _, dtype = source_info(self.source, name)
        return raw_location(self.source, name) if np.dtype(dtype) == self.dtype or not _is_float(dtype) else None

    def file_of(self, name):
        return self.source.file_of(name) if hasattr(self.source, "file_of") else "the checkpoint"

    def __iter__(self):
        return iter(self.source)

    def __len__(self):
        return len(self.source)


def _is_float(dtype):
    return np.issubdtype(dtype, np.floating) or str(dtype) == "bfloat16"


def plan_shards(tensors, max_shard_size):
    """Splits the names of ``tensors`` into shards of at most ``max_shard_size`` bytes (HF's greedy rule)."""
    limit = parse_size(max_shard_size)
    shards, current, size = [], [], 0
    for name in tensors:
        shape, dtype = source_info(tensors, name)
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if current and size + nbytes > limit:
            shards.append(current)
            current, size = [], 0
        current.append(name)
        size += nbytes
    shards.append(current)
    return shards


def write_checkpoint(tensors, folder, fmt, max_shard_size="5GB", progress=None, metadata=None):
    """Writes ``tensors`` (the format's own names -> arrays) to ``folder`` in ``fmt``, sharded.

    Returns the file names written. Each file is written under a temporary name and
    renamed; stale weight files of the same format (another sharding) are removed.
    ``progress`` is called with the byte count of each tensor written.
    """
    single, index_name, pattern = FORMATS[fmt]
    shards = plan_shards(tensors, max_shard_size)
    names = [single] if len(shards) == 1 else [pattern.format(i=i + 1, n=len(shards)) for i in range(len(shards))]
    os.makedirs(folder, exist_ok=True)
    writer = _writer(fmt)
    total = 0
    for shard, name in zip(shards, names):
        with atomic_path(os.path.join(folder, name)) as tmp:
            total += writer(tensors, shard, tmp, progress=progress, sharded=len(shards) > 1, metadata=metadata)
    if len(shards) > 1:
        # HF's TF index names weights with their model level (tf_bert_for_masked_lm/bert/...:0).
        top = (metadata or {}).get("tf_model_name") if fmt == "tf" else None
        key = (lambda t: f"{top}/{t}") if top else (lambda t: t)
        index = {"metadata": {"total_size": total}, "weight_map": {key(t): n for s, n in zip(shards, names) for t in s}}
        atomic_write_text(os.path.join(folder, index_name), json.dumps(index, indent=2, sort_keys=True) + "\n")
    keep = set(names) | ({index_name} if len(shards) > 1 else set())
    stale = re.compile(re.escape(single.rsplit(".", 1)[0]) + r"(-\d{5}-of-\d{5})?\." + re.escape(single.rsplit(".", 1)[1])
                       + r"(\.index\.json)?$")
    for f in os.listdir(folder):
        if stale.match(f) and f not in keep:
            os.remove(os.path.join(folder, f))
    return names


def _writer(fmt):
    if fmt == "safetensors":
        return write_safetensors
    if fmt == "bin":
        return write_torch_bin
    if fmt == "tf":
        from keras_tfm.checkpoints.formats_h5 import write_tf_h5

        return write_tf_h5
    if fmt == "flax":
        from keras_tfm.checkpoints.formats_msgpack import write_msgpack

        return write_msgpack
    raise ValueError(f"Unknown checkpoint format {fmt!r}; use one of {', '.join(FORMATS)}.")


def write_safetensors(tensors, names, path, progress=None, metadata=None, **_):
    """Streams a safetensors file: header from shapes, then one tensor at a time."""
    header, offset, infos = {}, 0, []
    for name in names:
        shape, dtype = source_info(tensors, name)
        dtype = np.dtype(dtype)
        tag = _ST_DTYPES.get(str(dtype) if str(dtype) != "bfloat16" else "bfloat16")
        if tag is None:
            raise CheckpointError(f"Tensor {name!r} has dtype {dtype}, which safetensors cannot store.")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
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


def write_torch_bin(tensors, names, path, progress=None, **_):
    import torch

    state, total = {}, 0
    for name in names:
        a = np.ascontiguousarray(tensors[name])
        if str(a.dtype) == "bfloat16":
            state[name] = torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
        else:
            state[name] = torch.from_numpy(a.copy())
        total += a.nbytes
        if progress:
            progress(a.nbytes)
    torch.save(state, path)
    return total
