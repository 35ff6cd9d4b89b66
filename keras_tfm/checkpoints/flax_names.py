"""Flax <-> PyTorch tensor names, following Hugging Face's own rules.

Flax -> PT (``load_flax_weights_in_pytorch_model`` of transformers 4): keys are the
nested dict path (``bert/encoder/layer/0/.../kernel``; a ``params`` / ``batch_stats``
top level is dropped); leaf ``kernel`` -> ``weight`` transposed (conv kernels permuted),
``scale`` / ``embedding`` -> ``weight``, ``mean`` / ``var`` -> ``running_mean`` /
``running_var``.

PT -> Flax: the same backwards, with the tensor kind from ``naming.classify`` and the
architecture's ``flax_renames`` for exceptions.
"""

from keras_tfm.checkpoints.conversion_tables import conversion_tables
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.naming import (
    CONV1D_PT_TO_TF,
    CONV1D_TF_TO_PT,
    CONV2D_PT_TO_TF,
    CONV2D_TF_TO_PT,
    T2,
    apply_renames,
    classify,
)
from keras_tfm.checkpoints.tensor_io import Renamed, file_of, source_info


def flax_name_to_pt(flax_name, ndim):
    parts = flax_name.split("/")
    if parts[0] in ("params", "batch_stats") and len(parts) > 1:
        parts = parts[1:]
    leaf = parts[-1]
    transform = None
    if leaf == "kernel":
        transform = {4: CONV2D_TF_TO_PT, 3: CONV1D_TF_TO_PT}.get(ndim, T2 if ndim == 2 else None)
        parts[-1] = "weight"
    elif leaf in ("scale", "embedding"):
        parts[-1] = "weight"
    elif leaf == "mean":
        parts[-1] = "running_mean"
    elif leaf == "var":
        parts[-1] = "running_var"
    return ".".join(parts), transform


def flax_to_pt(checkpoint, model_type=None):
    table = {}
    for flax_name in checkpoint:
        shape, _ = source_info(checkpoint, flax_name)
        pt, transform = flax_name_to_pt(flax_name, len(shape))
        if pt in table:
            raise CheckpointError(
                f"{file_of(checkpoint, flax_name)}: Flax tensors {table[pt][0]!r} and {flax_name!r} both map to "
                f"the PyTorch name {pt!r}."
            )
        table[pt] = (flax_name, transform)
    return Renamed(checkpoint, table)


def pt_name_to_flax(pt_name, kind, renames=()):
    if kind == "skip":
        return None, None
    parts = pt_name.split(".")
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
            parts[-1] = "scale"
        elif kind == "embedding":
            parts[-1] = "embedding"
    elif leaf == "beta":
        parts[-1] = "bias"
    elif leaf == "running_mean":
        parts[-1] = "mean"
    elif leaf == "running_var":
        parts[-1] = "var"
    return apply_renames("/".join(parts), renames), transform


def pt_to_flax(state, model_type=None, architecture=None):
    shapes = {n: tuple(source_info(state, n)[0]) for n in state}
    kinds = classify(shapes, model_type, architecture, target="flax")
    renames = conversion_tables(model_type).flax_renames
    table = {}
    for name in state:
        flax, transform = pt_name_to_flax(name, kinds[name], renames)
        if flax is None:
            continue
        if flax in table:
            raise CheckpointError(
                f"PyTorch tensors {table[flax][0]!r} and {name!r} both map to the Flax name {flax!r}."
            )
        table[flax] = (name, transform)
    return Renamed(state, table)
