"""What every cross-framework name translation shares: layouts, tensor kinds, model classes.

Going from PyTorch names to TF or Flax names needs to know what kind of layer a
``weight`` belongs to (a Linear is ``kernel`` and transposed, a LayerNorm is
``gamma``/``scale``, an Embedding is ``embeddings``/``embedding``). ``classify`` answers
from the architecture's ``WeightMap`` when keras_tfm has the architecture (the keras
variable a rule maps to says it: ``.kernel``, ``.gamma``, ``.embeddings``), and from
HF's own heuristics otherwise (shape and module name). The way back (TF/Flax -> PT) needs
no table: the TF/Flax leaf names say the kind.

Per-architecture exceptions (renames, kinds, TF's (1, n) biases) are the architecture's
``ConversionTables`` (``conversion_tables.py``), registered by its ``convert_<arch>.py``.
Model classes are found in the Auto-class registry, which importing the ``keras_tfm``
package fills (Python imports it before any of its modules).
"""

import json
import os
import re

import numpy as np

from keras_tfm.checkpoints.conversion_tables import conversion_tables
from keras_tfm.checkpoints.weight_map import CONV1D, CONV2D, TRANSPOSE, WeightMap, modernize_name
from keras_tfm.registry import MODELS

KINDS = ("linear", "norm", "embedding", "conv1d", "conv2d", "param", "skip")


class Perm:
    """A transpose as a lazy array function with a shape function (for headers)."""

    def __init__(self, axes=None):
        self.axes = axes

    def __call__(self, a):
        return np.ascontiguousarray(np.transpose(a, self.axes))

    def shape_fn(self, shape):
        axes = self.axes if self.axes is not None else tuple(reversed(range(len(shape))))
        return tuple(shape[i] for i in axes)

    def __repr__(self):
        return f"Perm({self.axes})"


class Reshape:
    """Adds (``axis`` given) or drops a leading axis of size 1: TF's (1, n) Conv1D biases."""

    def __init__(self, expand):
        self.expand = expand

    def __call__(self, a):
        return a[None] if self.expand else a.reshape(a.shape[1:])

    def shape_fn(self, shape):
        return (1, *shape) if self.expand else tuple(shape[1:])


EXPAND0, SQUEEZE0 = Reshape(True), Reshape(False)
T2 = Perm()  # (out, in) <-> (in, out)
# PT conv weights (out, in, *k) <-> TF / Flax kernels (*k, in, out)
CONV1D_PT_TO_TF, CONV1D_TF_TO_PT = Perm((2, 1, 0)), Perm((2, 1, 0))
CONV2D_PT_TO_TF, CONV2D_TF_TO_PT = Perm((2, 3, 1, 0)), Perm((3, 2, 0, 1))


def model_class(architecture):
    """Our model class for an HF architecture name (``BertForMaskedLM``), or None."""
    for classes in MODELS.values():
        for cls in classes.values():
            if cls.__name__ == architecture:
                return cls
    return None


def class_weight_map(cls):
    """The ``WeightMap`` a model class declares; None for no class, or one whose table depends on its
    config (a ``weight_map`` property: DETR's backbone, a VisionEncoderDecoder's parts)."""
    weight_map = getattr(cls, "weight_map", None)
    return weight_map if isinstance(weight_map, WeightMap) else None


def tf_base_prefix(architecture):
    """The main-layer name HF's TF base model adds (``bert`` for TFBertModel), PyTorch's base model
    having none; None for a task model or an architecture keras_tfm does not have."""
    cls = model_class(architecture) if architecture else None
    weight_map = class_weight_map(cls)
    if weight_map is None or not getattr(weight_map, "is_base", False):
        return None
    return getattr(weight_map, "prefix", None) or getattr(cls, "base_model_prefix", None) or None


def read_config(folder):
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError:
        return {}


def _weight_map_kind(weight_map, name):
    try:
        path = weight_map.keras_path(name)
    except Exception:
        return None
    if path is None:
        return "skip"
    if path is False:
        return None
    try:
        transform = weight_map.transform_for(path)
    except KeyError:
        return None
    if path.endswith(".kernel"):
        return {TRANSPOSE: "linear", CONV1D: "conv1d", CONV2D: "conv2d"}.get(transform, "param")
    if path.endswith((".gamma", ".beta")):
        return "norm"
    if path.endswith(".embeddings"):
        return "embedding"
    return "param"


def _heuristic_kind(name, shape, shapes):
    module, _, leaf = name.rpartition(".")
    last = module.rpartition(".")[2].lower()
    if leaf in ("gamma", "beta"):
        return "norm"
    if leaf == "weight":
        if len(shape) == 1:
            return "norm"
        if len(shape) == 2:
            return "embedding" if re.search(r"emb|^wte$|^wpe$", last) else "linear"
        if len(shape) == 3:
            return "conv1d"
        if len(shape) == 4:
            return "conv2d"
        return "param"
    if leaf == "bias":
        sibling = shapes.get(module + ".weight")
        if sibling is not None and len(sibling) == 1:
            return "norm"
    if leaf in ("running_mean", "running_var", "num_batches_tracked"):
        return "param"
    return "param"


def classify(names_shapes, model_type=None, architecture=None, target=None):
    """``{pt_name: kind}`` for every tensor (``names_shapes``: ``{name: shape}``).

    ``target`` ("tf" or "flax") also applies the architecture's ``tf_kinds`` / ``flax_kinds``
    (HF's TF and Flax classes of one architecture may store a layer differently).
    """
    cls = model_class(architecture) if architecture else None
    weight_map = class_weight_map(cls)
    overrides = conversion_tables(model_type).kind_overrides(target)
    out = {}
    for name, shape in names_shapes.items():
        kind = next((k for p, k in overrides if p.search(name)), None)
        if kind is None and weight_map is not None:
            kind = _weight_map_kind(weight_map, modernize_name(name))
        if kind is None:
            kind = _heuristic_kind(name, shape, names_shapes)
        out[name] = kind
    return out


def kernel_to_pt(ndim):
    """The transform of a TF / Flax ``kernel`` of ``ndim`` dimensions into PyTorch's layout (None: as it is)."""
    return {4: CONV2D_TF_TO_PT, 3: CONV1D_TF_TO_PT, 2: T2}.get(ndim)


_KERNELS = {"linear": T2, "conv1d": CONV1D_PT_TO_TF, "conv2d": CONV2D_PT_TO_TF}
_NORM_WEIGHT = {"tf": "gamma", "flax": "scale"}
_EMBEDDING = {"tf": "embeddings", "flax": "embedding"}
_NORM_BIAS = {"tf": "beta", "flax": "bias"}
_STATISTICS = {"running_mean": {"tf": "moving_mean", "flax": "mean"}, "running_var": {"tf": "moving_variance", "flax": "var"}}


def pt_leaf_to(leaf, kind, target):
    """``(leaf, transform or None)``: the last part of a PyTorch name of a ``kind`` tensor in
    ``target`` ("tf" or "flax") names, as HF's TF and Flax classes name it."""
    if leaf in ("weight", "gamma"):
        if kind in _KERNELS:
            return "kernel", _KERNELS[kind]
        return {"norm": _NORM_WEIGHT, "embedding": _EMBEDDING}.get(kind, {}).get(target, leaf), None
    if (leaf in ("bias", "beta") and kind == "norm") or (leaf == "beta" and target == "flax"):
        return _NORM_BIAS[target], None
    return _STATISTICS.get(leaf, {}).get(target, leaf), None


def apply_renames(name, renames):
    for pattern, replacement in renames:
        name = re.sub(pattern, replacement, name)
    return name
