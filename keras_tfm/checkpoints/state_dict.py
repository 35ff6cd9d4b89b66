"""Reading and writing Hugging Face PyTorch-layout weights: ``name -> numpy array``.

Formats: ``model.safetensors`` (sharded with ``model.safetensors.index.json``) and
``pytorch_model.bin`` (sharded with ``pytorch_model.bin.index.json``). Reading is lazy:
tensors are memory-mapped and materialised one at a time. ``.bin`` files are read with
``torch.load(weights_only=True)``: a pickle that carries code is refused, never run.
"""

import json
import logging
import os
import re
from collections.abc import Mapping

import numpy as np

from keras_tfm.checkpoints.hub import ModelNotFoundError, resolve_file
from keras_tfm.utils.io import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PT_WEIGHTS_NAME = "pytorch_model.bin"
PT_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
# Searched in this order, as Hugging Face does: safetensors first.
WEIGHT_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME)


class CheckpointError(ValueError):
    """A weight file is unreadable, corrupt, or does not fit the model."""


def resolve_weight_files(path_or_id, **hub_kwargs):
    """Local paths of the weight files of a model, found in HF's order of preference."""
    for name in WEIGHT_FILES:
        path = resolve_file(path_or_id, name, required=False, **hub_kwargs)
        if path is None:
            continue
        if not name.endswith(".index.json"):
            return [path]
        index = _read_index(path)
        shards = sorted(set(index["weight_map"].values()))
        files = []
        for shard in shards:
            shard_path = resolve_file(path_or_id, shard, required=False, **hub_kwargs)
            if shard_path is None:
                raise CheckpointError(f"{path} names the shard {shard!r}, which does not exist.")
            files.append(shard_path)
        return files
    raise ModelNotFoundError(f"{path_or_id!r} has no weights: looked for {', '.join(WEIGHT_FILES)}.")


def _read_index(path):
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        if not isinstance(index.get("weight_map"), dict):
            raise ValueError("no 'weight_map' object")
        return index
    except (ValueError, AttributeError) as e:
        raise CheckpointError(f"{path} is not a valid checkpoint index: {e}") from None


class LazyStateDict(Mapping):
    """``name -> numpy array`` over one or more weight files, read on access."""

    def __init__(self, files):
        self._where = {}  # name -> (reader, file)
        for path in files:
            reader = _open_reader(path)
            for name in reader.keys():
                self._where[name] = (reader, path)

    def __getitem__(self, name):
        reader, path = self._where[name]
        try:
            return reader.get(name)
        except Exception as e:  # corrupt data past a valid header
            raise CheckpointError(f"Cannot read tensor {name!r} from {path}: {e}") from None

    def file_of(self, name):
        return self._where[name][1]

    def __iter__(self):
        return iter(self._where)

    def __len__(self):
        return len(self._where)


def _open_reader(path):
    if path.endswith(".safetensors"):
        return _SafetensorsReader(path)
    if path.endswith(".bin"):
        return _TorchBinReader(path)
    raise CheckpointError(f"{path}: unknown weight file type (expected .safetensors or .bin).")


class _SafetensorsReader:
    def __init__(self, path):
        from safetensors import safe_open

        try:
            self._file = safe_open(path, framework="np")
        except Exception as e:
            raise CheckpointError(f"{path} is not a valid safetensors file ({e}).") from None

    def keys(self):
        return self._file.keys()

    def get(self, name):
        return self._file.get_tensor(name)


class _TorchBinReader:
    def __init__(self, path):
        try:
            import torch
        except ImportError:
            raise CheckpointError(f"Reading {path} needs PyTorch (pip install torch).") from None
        try:
            # weights_only: plain tensors only; a pickle carrying code is refused, never run.
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:
            raise CheckpointError(
                f"{path} cannot be read as plain tensors with torch.load(weights_only=True): "
                f"{str(e).splitlines()[0]}"
            ) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path} does not hold a name -> tensor dictionary.")
        self._state = state

    def keys(self):
        return self._state.keys()

    def get(self, name):
        import torch

        t = self._state[name]
        if t.dtype == torch.bfloat16:
            import ml_dtypes

            return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return t.numpy()


def load_state_dict(path_or_id, **hub_kwargs):
    return LazyStateDict(resolve_weight_files(path_or_id, **hub_kwargs))


_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(size):
    """Bytes from an int or a string like '5GB' or '500MiB' (HF's convention: GB = 10**9)."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*", str(size).upper())
    if not m:
        raise ValueError(f"max_shard_size={size!r} is not a size such as '5GB' or '500MB'.")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2) or ""])


def save_state_dict(tensors, folder, max_shard_size="5GB", safe_serialization=True):
    """Writes ``tensors`` (name -> numpy array) to ``folder``, sharded above ``max_shard_size``.

    Every file is written to a temporary name and renamed, so a crash leaves no half
    checkpoint; stale weight files of another layout in the folder are removed.
    """
    limit = parse_size(max_shard_size)
    shards, current, size = [], {}, 0
    for name, array in tensors.items():
        nbytes = array.nbytes
        if current and size + nbytes > limit:
            shards.append(current)
            current, size = {}, 0
        current[name] = np.ascontiguousarray(array)
        size += nbytes
    shards.append(current)

    base, ext = (SAFE_WEIGHTS_NAME if safe_serialization else PT_WEIGHTS_NAME).rsplit(".", 1)
    names = (
        [f"{base}.{ext}"]
        if len(shards) == 1
        else [f"{base}-{i + 1:05d}-of-{len(shards):05d}.{ext}" for i in range(len(shards))]
    )
    for shard, name in zip(shards, names):
        with atomic_path(os.path.join(folder, name)) as tmp:
            _write_shard(shard, tmp, safe_serialization)
    index_name = SAFE_WEIGHTS_INDEX_NAME if safe_serialization else PT_WEIGHTS_INDEX_NAME
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": sum(a.nbytes for s in shards for a in s.values())},
            "weight_map": {t: n for s, n in zip(shards, names) for t in s},
        }
        atomic_write_text(os.path.join(folder, index_name), json.dumps(index, indent=2, sort_keys=True) + "\n")
    _remove_stale_weights(folder, keep=set(names) | ({index_name} if len(shards) > 1 else set()))
    return names


def _write_shard(tensors, path, safe_serialization):
    if safe_serialization:
        from safetensors.numpy import save_file

        save_file(tensors, path, metadata={"format": "pt"})
    else:
        import torch

        torch.save({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, path)


def _remove_stale_weights(folder, keep):
    pattern = re.compile(r"^(model|pytorch_model)(-\d{5}-of-\d{5})?\.(safetensors|bin)(\.index\.json)?$")
    for name in os.listdir(folder):
        if pattern.match(name) and name not in keep:
            os.remove(os.path.join(folder, name))
