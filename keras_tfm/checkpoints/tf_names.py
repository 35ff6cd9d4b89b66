"""TF <-> PyTorch tensor names, following Hugging Face's own rules.

TF -> PT (``convert_tf_weight_name_to_pt_weight_name`` of transformers 4), needing no
table: drop ``:0`` and the model level, ``a___b`` -> ``b`` (``mlm___cls`` -> ``cls``),
``layer_._3`` -> ``layer.3``, leaf ``kernel`` -> ``weight`` transposed (conv kernels
permuted), ``gamma``/``embeddings`` -> ``weight``, ``beta`` -> ``bias``.

PT -> TF: the same rules backwards, with the tensor kind from ``naming.classify`` and the
architecture's ``tf_renames`` for what HF's TF classes named their own way
(``word_embeddings/weight``, ``mlm___cls``).
"""

import re

from keras_tfm.checkpoints.conversion_tables import conversion_tables
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.naming import (
    CONV1D_PT_TO_TF,
    CONV1D_TF_TO_PT,
    CONV2D_PT_TO_TF,
    CONV2D_TF_TO_PT,
    EXPAND0,
    SQUEEZE0,
    T2,
    apply_renames,
    classify,
    tf_base_prefix,
)
from keras_tfm.checkpoints.tensor_io import Renamed, file_of, source_info


def tf_name_to_pt(tf_name, ndim, shape=None):
    """``(pt name, transform or None)`` for a TF name without the model level (``bert/.../kernel:0``)."""
    name = re.sub(r":\d+$", "", tf_name)
    name = re.sub(r"/[^/]*___([^/]*)/", r"/\1/", "/" + name)[1:]
    name = re.sub(r"^[^/]*___([^/]*)/", r"\1/", name)
    name = name.replace("_._", "/")
    name = re.sub(r"//+", "/", name).strip("/")
    parts = name.split("/")
    leaf = parts[-1]
    transform = None
    if leaf == "kernel":
        transform = {4: CONV2D_TF_TO_PT, 3: CONV1D_TF_TO_PT}.get(ndim, T2 if ndim == 2 else None)
    elif leaf in ("pointwise_kernel", "depthwise_kernel"):
        transform = T2 if ndim == 2 else None
    if leaf in ("kernel", "embeddings", "gamma"):
        parts[-1] = "weight"
    elif leaf == "beta":
        parts[-1] = "bias"
    elif leaf == "bias" and shape is not None and len(shape) == 2 and shape[0] == 1:
        transform = SQUEEZE0  # TF Conv1D (GPT-2) biases are (1, n); PyTorch biases are 1-D
    elif leaf in ("pointwise_kernel", "depthwise_kernel"):
        parts[-1] = leaf.replace("_kernel", ".weight")
    elif leaf in ("moving_mean", "moving_variance"):
        parts[-1] = "running_mean" if leaf == "moving_mean" else "running_var"
    return ".".join(parts), transform


def tf_to_pt(checkpoint, model_type=None, architecture=None):
    """A TF checkpoint as a lazy mapping in PyTorch names and layouts.

    With the ``architecture`` of a base model, the main-layer level HF's TF base models add
    (``bert/``) is dropped, as PyTorch's base model has none.
    """
    base = tf_base_prefix(architecture)
    strip = base and all(n.startswith(base + "/") for n in checkpoint)
    table = {}
    for tf_name in checkpoint:
        shape, _ = source_info(checkpoint, tf_name)
        pt, transform = tf_name_to_pt(tf_name[len(base) + 1:] if strip else tf_name, len(shape), shape)
        if pt in table:
            raise CheckpointError(
                f"{file_of(checkpoint, tf_name)}: TF tensors {table[pt][0]!r} and {tf_name!r} both map to the "
                f"PyTorch name {pt!r}."
            )
        table[pt] = (tf_name, transform)
    return Renamed(checkpoint, table)


def pt_name_to_tf(pt_name, kind, renames=(), expand=False):
    """``(tf name without the model level, transform or None)``; None name for a skipped tensor."""
    if kind == "skip":
        return None, None
    parts = []
    for p in pt_name.split("."):
        if p.isdigit() and parts:
            parts[-1] += "_._" + p
        else:
            parts.append(p)
    leaf = parts[-1]
    transform = None
    if leaf in ("weight", "gamma"):
        if kind == "linear":
            parts[-1], transform = "kernel", T2
        elif kind == "conv1d":
            parts[-1], transform = "kernel", CONV1D_PT_TO_TF
        elif kind == "conv2d":
            parts[-1], transform = "kernel", CONV2D_PT_TO_TF
        elif kind == "norm":
            parts[-1] = "gamma"
        elif kind == "embedding":
            parts[-1] = "embeddings"
    elif leaf in ("bias", "beta") and kind == "norm":
        parts[-1] = "beta"
    elif leaf == "running_mean":
        parts[-1] = "moving_mean"
    elif leaf == "running_var":
        parts[-1] = "moving_variance"
    if expand and transform is None:
        transform = EXPAND0
    return apply_renames("/".join(parts) + ":0", renames), transform


def pt_to_tf(state, model_type=None, architecture=None):
    """A PT-named mapping as a lazy mapping in TF names (no model level); skipped tensors dropped."""
    shapes = {n: tuple(source_info(state, n)[0]) for n in state}
    kinds = classify(shapes, model_type, architecture, target="tf")
    tables = conversion_tables(model_type)
    renames = tables.tf_renames
    expand = [re.compile(p) for p in tables.tf_expand]
    base = tf_base_prefix(architecture)
    table = {}
    for name in state:
        tf, transform = pt_name_to_tf(name, kinds[name], renames, expand=any(p.search(name) for p in expand))
        if tf is None:
            continue
        if base and not tf.startswith(base + "/"):
            tf = f"{base}/{tf}"  # HF's TF base model keeps its main layer (tf_bert_model/bert/...)
        if tf in table:
            raise CheckpointError(f"PyTorch tensors {table[tf][0]!r} and {name!r} both map to the TF name {tf!r}.")
        table[tf] = (name, transform)
    return Renamed(state, table)
