"""``tf_model.h5``: the TF-Keras 2 HDF5 weight files that Hugging Face TF models wrote.

Two layouts exist, both read here and both written:

- one file (``TFPreTrainedModel.save_pretrained`` -> ``model.save_weights``): the root
  attribute ``layer_names`` lists the top-level layers (``bert``, ``mlm___cls``); each
  layer's group has a ``weight_names`` attribute with full weight names
  (``tf_bert_for_masked_lm/bert/embeddings/word_embeddings/weight:0``) and holds each
  dataset under that name. A weight shared by two layers is listed (and stored) twice.
- shards (``tf_model-0000i-of-0000n.h5`` + ``tf_model.h5.index.json``): the datasets sit
  at their name without the model level (``bert/embeddings/.../weight:0``), listed in the
  root attribute ``layer_names``.

Keys here are always the names without the model level and with ``:0``
(``bert/embeddings/word_embeddings/weight:0``); ``tf_names`` maps them to PyTorch names.
Two kinds of weights had no model level in HF's TF models (``full_weight_name``): one at the
model's top (TF BART's ``final_logits_bias:0``), and one of a layer named outside its parent's
scope (TF BART's ``model.shared/embeddings:0``, in full ``model.shared/model.shared/...``).
Attributes over HDF5's 64 KB limit are split in chunks (``weight_names0``,
``weight_names1``...) as Keras 2 does.
"""

import re

import numpy as np

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.tensor_io import TensorFile, source_info, write_tensor_bytes

_ATTR_LIMIT = 64512  # HDF5's attribute header limit, as Keras 2 uses it


def _h5py():
    try:
        import h5py
    except ImportError:
        raise CheckpointError("Reading or writing tf_model.h5 needs h5py (pip install h5py).") from None
    return h5py


def load_attribute(group, name):
    """A string-list attribute, joined over Keras 2's chunks (``name0``, ``name1``...)."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def save_attribute(group, name, values):
    data = np.asarray([v.encode("utf8") for v in values])
    if data.nbytes <= _ATTR_LIMIT:
        group.attrs[name] = data
        return
    chunks = int(np.ceil(data.nbytes / _ATTR_LIMIT)) + 1
    for i, chunk in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = chunk


def full_weight_name(key, model_name):
    """A weight's full Keras 2 name from its key: under the model's name; a weight at the model's top
    bare; a weight of a layer named with a dot (``model.shared``) under that layer's name."""
    first, _, rest = key.partition("/")
    if not rest:
        return key
    return f"{first}/{key}" if "." in first else f"{model_name}/{key}"


def _top_layer(key):
    """The top-level layer (HDF5 group of a single file) holding the weight ``key``: ``model`` for
    ``model.shared/...``, ``final_logits_bias`` for ``final_logits_bias:0``."""
    return re.split(r"[/.:]", key, maxsplit=1)[0]


def _shard_path(key):
    """Where a shard holds ``key``: HF's shards drop the model level but keep a dotted layer's own."""
    first = key.partition("/")[0]
    return f"{first}/{key}" if "/" in key and "." in first else key


def _shard_key(path):
    first, _, rest = path.partition("/")
    return rest if "." in first and rest.startswith(first + "/") else path


class TFH5File(TensorFile):
    def __init__(self, path):
        h5py = _h5py()
        self.path = path
        try:
            self._file = h5py.File(path, "r")
            self._where = {}  # key -> dataset path inside the file
            self._info = {}  # key -> (shape, dtype), filled on first use
            self.model_name = None
            layer_names = load_attribute(self._file, "layer_names")
            if not layer_names and "layer_names" not in self._file.attrs and len(self._file.keys()):
                raise ValueError("no 'layer_names' attribute: not a Keras 2 weights file")
            for layer in layer_names:
                item = self._file[layer]
                if isinstance(item, h5py.Dataset):  # a shard: the key is the dataset path
                    self._where[_shard_key(layer)] = layer
                    continue
                for full in load_attribute(item, "weight_names"):
                    head, _, key = full.partition("/")
                    if not key:  # a weight with no model level (rare)
                        head, key = None, full
                    self.model_name = self.model_name or head
                    self._where.setdefault(key, f"{layer}/{full}")
        except CheckpointError:
            raise
        except Exception as e:  # OSError for truncated / non-HDF5 files, KeyError for broken layouts
            raise CheckpointError(f"{path} is not a readable tf_model.h5 (TF-Keras 2 HDF5 weights): {e}") from None

    def keys(self):
        return list(self._where)

    def _dataset(self, name):
        try:
            return self._file[self._where[name]]
        except KeyError:
            raise CheckpointError(f"{self.path}: tensor {name!r} is listed but has no dataset.") from None

    def info(self, name):
        found = self._info.get(name)
        if found is None:
            d = self._dataset(name)
            found = self._info[name] = (tuple(d.shape), d.dtype)
        return found

    def raw_location(self, name):
        d = self._dataset(name)
        if d.chunks is not None or d.compression or d.dtype.byteorder == ">":
            return None
        offset = d.id.get_offset()
        return None if offset is None else (self.path, offset, d.id.get_storage_size())

    def get(self, name):
        try:
            return np.asarray(self._dataset(name)[()])
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"Cannot read tensor {name!r} from {self.path}: {e}") from None

    def close(self):
        self._file.close()


def tf_model_name(architecture):
    """Keras 2's automatic name of HF's TF class: BertForMaskedLM -> tf_bert_for_masked_lm."""
    import re

    name = "TF" + architecture
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def write_tf_h5(tensors, names, path, progress=None, sharded=False, metadata=None, **_):
    """Writes ``names`` of ``tensors`` (keys without the model level) as HF TF models did.

    The HDF5 structure is made with h5py, every dataset contiguous and allocated up front
    (no fill); the tensor bytes are then written at the datasets' offsets, copied file to
    file (``copy_file_range``) when the source holds them as they are.
    """
    h5py = _h5py()
    from h5py import h5d, h5p, h5s, h5t

    model_name = (metadata or {}).get("tf_model_name") or "tf_model"
    placed = []  # (name, offset, shape, dtype)
    with h5py.File(path, "w") as f:
        if sharded:
            save_attribute(f, "layer_names", [_shard_path(n) for n in names])
        else:
            f.attrs["backend"] = "tensorflow".encode("utf8")
            f.attrs["keras_version"] = "2.15.0".encode("utf8")
            layers = {}
            for name in names:
                layers.setdefault(_top_layer(name), []).append(name)
            # A head that holds the input embeddings (HF's `mlm___cls`, `lm_head`, `vocab_projector`)
            # lists and stores them again in its own group, as Keras 2 saved a shared layer.
            extra = []
            for layer, prefix in ((metadata or {}).get("tf_shared") or {}).items():
                if layer in layers:
                    shared = [n for n in names if n.startswith(prefix)]
                    layers[layer] += shared
                    extra += [(f"{layer}/{model_name}/{n}", n) for n in shared]
            save_attribute(f, "layer_names", list(layers))
            for layer, members in layers.items():
                full_names = [full_weight_name(m, model_name) for m in members]
                save_attribute(f.create_group(layer), "weight_names", full_names)
        lcpl = h5p.create(h5p.LINK_CREATE)
        lcpl.set_create_intermediate_group(True)
        targets = [(_shard_path(name) if sharded else f"{_top_layer(name)}/{full_weight_name(name, model_name)}", name)
                   for name in names] + ([] if sharded else extra)
        for where, name in targets:
            shape, dtype = source_info(tensors, name)
            if str(dtype) == "bfloat16":
                raise CheckpointError(
                    f"Tensor {name!r} is bfloat16, which tf_model.h5 (HDF5) cannot store; "
                    "write float16 or float32 instead."
                )
            dtype = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
            dcpl = h5p.create(h5p.DATASET_CREATE)
            dcpl.set_layout(h5d.CONTIGUOUS)
            dcpl.set_alloc_time(h5d.ALLOC_TIME_EARLY)
            dcpl.set_fill_time(h5d.FILL_TIME_NEVER)
            space = h5s.create_simple(tuple(shape)) if len(shape) else h5s.create(h5s.SCALAR)
            dset = h5d.create(f.id, where.encode("utf8"), h5t.py_create(dtype), space, dcpl=dcpl, lcpl=lcpl)
            placed.append((name, dset.get_offset(), tuple(shape), dtype))
    total, done = 0, set()
    with open(path, "r+b") as raw:
        for name, offset, shape, dtype in placed:
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if nbytes:
                raw.seek(offset)
                write_tensor_bytes(raw, tensors, name, shape, dtype)
            if name not in done:  # a shared weight's second copy is not counted twice
                done.add(name)
                total += nbytes
                if progress:
                    progress(nbytes)
    return total
