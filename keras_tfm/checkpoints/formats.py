"""The checkpoint formats: finding a checkpoint's files, opening them, writing them, sharded.

| format  | files                                                        | names inside          |
| ------- | ------------------------------------------------------------ | --------------------- |
| ``safetensors`` | ``model.safetensors`` (+ ``-0000i-of-0000n`` shards, index)    | HF PyTorch            |
| ``bin``  | ``pytorch_model.bin`` (+ shards, index)                       | HF PyTorch            |
| ``tf``   | ``tf_model.h5`` (TF-Keras 2 HDF5 as HF TF models wrote it; + shards, index) | HF TensorFlow |
| ``flax`` | ``flax_model.msgpack`` (flax.serialization msgpack; + shards, index) | HF Flax ("/"-joined) |
| ``keras``| ``model.weights.h5`` / ``model.keras`` (Keras 3 native, our own models) | through the model |

Each format is one reader (a ``TensorFile``) and one writer function in its own module;
this module holds the table of them and what is common to all: file discovery (local
folder or hub cache, safetensors first as Hugging Face does), shard indexes, shard
planning and atomic writes. Readers are lazy (headers only until a tensor is asked for);
writers pull one tensor at a time; every file is written to a temporary name and renamed.

``open_hf_state`` gives any checkpoint as a mapping in HF PyTorch names and layouts, and
``write_hf_state`` writes such a mapping in any format (names translated by ``tf_names``
and ``flax_names``).
"""

import json
import os
import re

from keras_tfm.checkpoints.conversion_tables import conversion_tables
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.flax_names import flax_to_pt, pt_to_flax
from keras_tfm.checkpoints.formats_h5 import TFH5File, full_weight_name, tf_model_name, write_tf_h5
from keras_tfm.checkpoints.formats_msgpack import MsgpackFile, write_msgpack
from keras_tfm.checkpoints.formats_safetensors import SafetensorsFile, write_safetensors
from keras_tfm.checkpoints.formats_torch import TorchBinFile, write_torch_bin
from keras_tfm.checkpoints.hub import ModelNotFoundError, resolve_file
from keras_tfm.checkpoints.tensor_io import Cast, Checkpoint, nbytes_of, source_info
from keras_tfm.checkpoints.tf_names import pt_to_tf, tf_to_pt
from keras_tfm.utils.io import atomic_path, atomic_write_text


class Format:
    """One tensor-file format: its file names, its reader class and its writer function."""

    def __init__(self, name, single, index, shard_pattern, extension, reader, writer):
        self.name, self.single, self.index, self.shard_pattern = name, single, index, shard_pattern
        self.extension, self.reader, self.writer = extension, reader, writer

    def shard_names(self, count):
        if count == 1:
            return [self.single]
        return [self.shard_pattern.format(i=i + 1, n=count) for i in range(count)]

    def owns(self, filename):
        """Whether ``filename`` is one of this format's weight files (single, shard or index)."""
        stem, ext = self.single.rsplit(".", 1)
        return re.fullmatch(re.escape(stem) + r"(-\d{5}-of-\d{5})?\." + re.escape(ext) + r"(\.index\.json)?",
                            filename) is not None


# Searched in this order when no format is asked for (safetensors first, as Hugging Face does).
FORMATS = {
    f.name: f
    for f in (
        Format("safetensors", "model.safetensors", "model.safetensors.index.json",
               "model-{i:05d}-of-{n:05d}.safetensors", ".safetensors", SafetensorsFile, write_safetensors),
        Format("bin", "pytorch_model.bin", "pytorch_model.bin.index.json",
               "pytorch_model-{i:05d}-of-{n:05d}.bin", ".bin", TorchBinFile, write_torch_bin),
        Format("tf", "tf_model.h5", "tf_model.h5.index.json", "tf_model-{i:05d}-of-{n:05d}.h5", ".h5",
               TFH5File, write_tf_h5),
        Format("flax", "flax_model.msgpack", "flax_model.msgpack.index.json",
               "flax_model-{i:05d}-of-{n:05d}.msgpack", ".msgpack", MsgpackFile, write_msgpack),
    )
}
KERAS_WEIGHTS_NAME = "model.weights.h5"
KERAS_MODEL_NAME = "model.keras"
KERAS_NAMES = (KERAS_WEIGHTS_NAME, KERAS_MODEL_NAME)
PT_FORMATS = ("safetensors", "bin")
ALL_FORMATS = (*FORMATS, "keras")


# ---------------------------------------------------------------------------------------
# Finding and reading
# ---------------------------------------------------------------------------------------
def format_of_file(path):
    """The format of one weight file by its extension, or None."""
    return next((f.name for f in FORMATS.values() if path.endswith(f.extension)), None)


def open_file(path, fmt=None):
    """The ``TensorFile`` for one weight file, by format or by extension."""
    fmt = fmt or format_of_file(path)
    if fmt not in FORMATS:
        raise CheckpointError(f"{path}: unknown weight file type (expected .safetensors, .bin, .h5 or .msgpack).")
    return FORMATS[fmt].reader(path)


def find_checkpoint(path_or_id, fmt=None, **hub_kwargs):
    """``(format, [files])`` of a model folder or hub id; ``fmt=None`` finds one, safetensors first."""
    if os.path.isfile(os.fspath(path_or_id)) and fmt is None:
        path = os.fspath(path_or_id)
        found = format_of_file(path)
        if found is None:
            raise CheckpointError(f"{path}: unknown weight file type.")
        return found, [path]
    if fmt not in (None, "pt", "keras_archive", *ALL_FORMATS):
        raise ValueError(f"Unknown weights format {fmt!r}; use one of pt, {', '.join(FORMATS)}, keras.")
    order = [fmt] if fmt else list(FORMATS)
    if fmt == "pt":
        order = list(PT_FORMATS)
    if fmt == "keras_archive":
        order = ["keras"]
    for f in order:
        if f == "keras":
            for name in KERAS_NAMES:
                p = resolve_file(path_or_id, name, required=False, **hub_kwargs)
                if p:
                    return "keras", [p]
            continue
        p = resolve_file(path_or_id, FORMATS[f].single, required=False, **hub_kwargs)
        if p:
            return f, [p]
        p = resolve_file(path_or_id, FORMATS[f].index, required=False, **hub_kwargs)
        if p:
            return f, _index_files(path_or_id, p, hub_kwargs)
    if fmt is None and _has_keras(path_or_id, hub_kwargs):  # our own Keras-native save, last
        return find_checkpoint(path_or_id, "keras", **hub_kwargs)
    names = [n for f in order for n in ((FORMATS[f].single, FORMATS[f].index) if f in FORMATS else KERAS_NAMES)]
    raise ModelNotFoundError(f"{os.fspath(path_or_id)!r} has no weights: looked for {', '.join(names)}.")


def _has_keras(path_or_id, hub_kwargs):
    return any(resolve_file(path_or_id, n, required=False, **hub_kwargs) for n in KERAS_NAMES)


def read_index(path):
    """A shard index (``*.index.json``) as a dict with a ``weight_map``."""
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
            raise ValueError("no 'weight_map' object")
        odd = [shard for shard in index["weight_map"].values() if not isinstance(shard, str)]
        if odd:
            raise ValueError(f"the weight_map names a shard by {odd[0]!r}, not by a file name")
        return index
    except (ValueError, AttributeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not a valid checkpoint index: {e}") from None


def _index_files(path_or_id, index_path, hub_kwargs):
    index = read_index(index_path)
    files = []
    for shard in sorted(set(index["weight_map"].values())):
        if not isinstance(shard, str) or os.path.basename(shard) != shard or "\\" in shard or shard in ("", ".", ".."):
            raise CheckpointError(f"{index_path} names the shard {shard!r}: a shard is a file name in the "
                                  "checkpoint's own folder (no path, no '..').")
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
    return Checkpoint([open_file(f, fmt) for f in files], fmt)


def open_hf_state(path_or_id, fmt=None, model_type=None, architecture=None, **hub_kwargs):
    """Any checkpoint as a lazy mapping in HF PyTorch names and layouts (``file_of`` included)."""
    ckpt = open_checkpoint(path_or_id, fmt, **hub_kwargs)
    if ckpt.format in PT_FORMATS:
        return ckpt
    if ckpt.format == "tf":
        return tf_to_pt(ckpt, model_type=model_type, architecture=architecture)
    return flax_to_pt(ckpt, model_type=model_type)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
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


def plan_shards(tensors, max_shard_size):
    """Splits the names of ``tensors`` into shards of at most ``max_shard_size`` bytes (HF's greedy rule)."""
    limit = parse_size(max_shard_size)
    shards, current, size = [], [], 0
    for name in tensors:
        nbytes = nbytes_of(*source_info(tensors, name))
        if current and size + nbytes > limit:
            shards.append(current)
            current, size = [], 0
        current.append(name)
        size += nbytes
    shards.append(current)
    return shards


def write_checkpoint(tensors, folder, fmt, max_shard_size="5GB", progress=None, metadata=None, replaces=()):
    """Writes ``tensors`` (the format's own names -> arrays) to ``folder`` in ``fmt``, sharded.

    Returns the file names written. Each file is written under a temporary name and
    renamed; weight files left from an earlier save of the same format (another
    sharding), or of a format in ``replaces``, are removed. ``progress`` is called with
    the byte count of each tensor written.
    """
    spec = FORMATS[fmt] if fmt in FORMATS else None
    if spec is None:
        raise ValueError(f"Unknown checkpoint format {fmt!r}; use one of {', '.join(FORMATS)}.")
    shards = plan_shards(tensors, max_shard_size)
    names = spec.shard_names(len(shards))
    os.makedirs(folder, exist_ok=True)
    total = 0
    for shard, name in zip(shards, names):
        with atomic_path(os.path.join(folder, name)) as tmp:
            total += spec.writer(tensors, shard, tmp, progress=progress, sharded=len(shards) > 1, metadata=metadata)
    if len(shards) > 1:
        # HF's TF index names weights with their model level (tf_bert_for_masked_lm/bert/...:0).
        top = (metadata or {}).get("tf_model_name") if fmt == "tf" else None
        key = (lambda t: full_weight_name(t, top)) if top else (lambda t: t)
        index = {"metadata": {"total_size": total}, "weight_map": {key(t): n for s, n in zip(shards, names) for t in s}}
        atomic_write_text(os.path.join(folder, spec.index), json.dumps(index, indent=2, sort_keys=True) + "\n")
    keep = set(names) | ({spec.index} if len(shards) > 1 else set())
    stale = [FORMATS[f] for f in (fmt, *replaces)]
    for f in os.listdir(folder):
        if f not in keep and any(s.owns(f) for s in stale):
            os.remove(os.path.join(folder, f))
    return names


def write_hf_state(state, folder, fmt, config, max_shard_size="5GB", dtype=None, progress=None, replaces=()):
    """Writes a mapping in HF PyTorch names to ``folder`` in ``fmt`` (safetensors, bin, tf, flax).

    ``config`` is the model's ``config.json`` dict (its ``model_type`` and ``architectures``
    pick the name exceptions); ``dtype`` casts floating-point tensors on the way.
    """
    model_type = config.get("model_type")
    arch = (config.get("architectures") or [None])[0]
    if dtype:
        state = Cast(state, dtype)
    metadata = None
    if fmt == "tf":
        shared = dict(conversion_tables(model_type).tf_shared_embeddings)
        state = pt_to_tf(state, model_type, arch)
        metadata = {"tf_model_name": tf_model_name(arch) if arch else "tf_model", "tf_shared": shared}
    elif fmt == "flax":
        state = pt_to_flax(state, model_type, arch)
    return write_checkpoint(state, folder, fmt, max_shard_size=max_shard_size, progress=progress, metadata=metadata,
                            replaces=replaces)
