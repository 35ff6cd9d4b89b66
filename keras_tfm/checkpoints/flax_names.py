"""Flax <-> PyTorch tensor names, following Hugging Face's own rules.

Flax -> PT (``load_flax_weights_in_pytorch_model`` of transformers 4): keys are the
nested dict path (``bert/encoder/layer/0/.../kernel``; a ``params`` / ``batch_stats``
top level is dropped); leaf ``kernel`` -> ``weight`` transposed (conv kernels permuted),
``scale`` / ``embedding`` -> ``weight``, ``mean`` / ``var`` -> ``running_mean`` /
``running_var``.

PT -> Flax: the same backwards, with the tensor kind from ``naming.classify`` and the
architecture's ``flax_renames`` for exceptions. A model with batch norms (ResNet) is written
as HF's Flax models saved it: two top-level collections, ``params`` and ``batch_stats`` (the
running statistics).
"""

from keras_tfm.checkpoints.conversion_tables import conversion_tables
from keras_tfm.checkpoints.naming import apply_renames, classify, kernel_to_pt, pt_leaf_to
from keras_tfm.checkpoints.tensor_io import rename_all, source_info


def flax_name_to_pt(flax_name, ndim):
    parts = flax_name.split("/")
    if parts[0] in ("params", "batch_stats") and len(parts) > 1:
        parts = parts[1:]
    leaf = parts[-1]
    transform = None
    if leaf == "kernel":
        transform = kernel_to_pt(ndim)
        parts[-1] = "weight"
    elif leaf in ("scale", "embedding"):
        parts[-1] = "weight"
    elif leaf == "mean":
        parts[-1] = "running_mean"
    elif leaf == "var":
        parts[-1] = "running_var"
    return ".".join(parts), transform


def flax_to_pt(checkpoint, model_type=None):
    """A Flax checkpoint as a lazy mapping in PyTorch names and layouts."""
    tables = conversion_tables(model_type)

    def rename(flax_name):
        name, transform = flax_name_to_pt(flax_name, len(source_info(checkpoint, flax_name)[0]))
        return tables.pt_name_read(name), transform

    return rename_all(checkpoint, rename, "Flax", "PyTorch")


def pt_name_to_flax(pt_name, kind, renames=()):
    if kind == "skip":
        return None, None
    parts = pt_name.split(".")
    parts[-1], transform = pt_leaf_to(parts[-1], kind, "flax")
    return apply_renames("/".join(parts), renames), transform


_STATISTICS = (".running_mean", ".running_var")


def pt_to_flax(state, model_type=None, architecture=None):
    shapes = {n: tuple(source_info(state, n)[0]) for n in state}
    kinds = classify(shapes, model_type, architecture, target="flax")
    tables = conversion_tables(model_type)
    renames = tables.flax_renames
    collections = any(n.endswith(_STATISTICS) for n in state)

    def rename(name):
        flax, transform = pt_name_to_flax(tables.pt_name_written(name), kinds[name], renames)
        if collections and flax is not None:
            flax = ("batch_stats/" if name.endswith(_STATISTICS) else "params/") + flax
        return flax, transform

    return rename_all(state, rename, "PyTorch", "Flax")
