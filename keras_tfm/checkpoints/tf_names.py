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
from keras_tfm.checkpoints.naming import (
    EXPAND0,
    SQUEEZE0,
    T2,
    apply_renames,
    classify,
    kernel_to_pt,
    pt_leaf_to,
    tf_base_prefix,
)
from keras_tfm.checkpoints.tensor_io import rename_all, source_info


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
        transform = kernel_to_pt(ndim)
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
    (``bert/``) is dropped, as PyTorch's base model has none; a layer named with that level and
    a dot (TF BART's ``model.shared``) counts as under it.
    """
    base = tf_base_prefix(architecture)
    strip = base and all(n.startswith((base + "/", base + ".")) for n in checkpoint)
    tables = conversion_tables(model_type)

    def rename(tf_name):
        shape, _ = source_info(checkpoint, tf_name)
        name, transform = tf_name_to_pt(tf_name[len(base) + 1:] if strip else tf_name, len(shape), shape)
        name = tables.pt_name_read(name, "tf")
        return name, (T2 if transform is None and tables.is_tf_reversed(name) else transform)

    return rename_all(checkpoint, rename, "TF", "PyTorch")


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
    parts[-1], transform = pt_leaf_to(parts[-1], kind, "tf")
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

    def rename(name):
        tf, transform = pt_name_to_tf(tables.pt_name_written(name), kinds[name], renames,
                                      expand=any(p.search(name) for p in expand))
        if transform is None and tables.is_tf_reversed(name):
            transform = T2  # reverses every axis
        if tf is not None and base and not tf.startswith((base + "/", base + ".")):
            tf = f"{base}/{tf}"  # HF's TF base model keeps its main layer (tf_bert_model/bert/...)
        return tf, transform

    renamed = rename_all(state, rename, "PyTorch", "TF")
    for copy, tied_to in tables.tf_tied_copies:  # a TF layer of its own, tied in PyTorch (not saved there)
        if tied_to in state and copy not in state:
            tf, transform = pt_name_to_tf(copy, "linear", renames)
            if base and not tf.startswith((base + "/", base + ".")):
                tf = f"{base}/{tf}"
            renamed.table[tf] = (tied_to, transform)
    return renamed
