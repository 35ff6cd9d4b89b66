"""Saving a model: ``config.json`` plus its weights in any format, written atomically.

The HF formats (safetensors, ``.bin``, ``tf_model.h5``, ``flax_model.msgpack``) are written
from the model's ``state_dict_hf()`` (HF PyTorch names), translated by
``formats.write_hf_state``; the Keras-native ones by Keras itself (``save_weights`` /
``save``). The weights are computed before anything is written, so a model whose
weights cannot be named writes nothing.
"""

import copy
import os

from keras_tfm.checkpoints.formats import KERAS_MODEL_NAME, KERAS_WEIGHTS_NAME, PT_FORMATS, write_hf_state
from keras_tfm.utils.io import atomic_path

SAVE_FORMATS = ("pt", "safetensors", "bin", "tf", "flax", "keras", "keras_archive")


def save_pretrained(model, folder, fmt="pt", max_shard_size="5GB", safe_serialization=True):
    """Writes ``model``'s config and weights to ``folder`` in ``fmt``; returns the weight file names.

    ``fmt``: ``"pt"`` (``model.safetensors``, or ``pytorch_model.bin`` with
    ``safe_serialization=False``), ``"safetensors"``, ``"bin"``, ``"tf"`` (``tf_model.h5``),
    ``"flax"`` (``flax_model.msgpack``), ``"keras"`` (``model.weights.h5``, Keras'
    ``save_weights``) or ``"keras_archive"`` (``model.keras``, Keras' ``save``).
    """
    folder = os.fspath(folder)
    if fmt not in SAVE_FORMATS:
        raise ValueError(f"save_pretrained(format={fmt!r}): use 'pt', 'tf', 'flax', 'keras' or 'keras_archive'.")
    if os.path.isfile(folder):
        raise NotADirectoryError(f"save_pretrained: {folder!r} is a file, not a folder.")
    if fmt == "pt":
        fmt = "safetensors" if safe_serialization else "bin"
    if getattr(model.config, "quantization_config", None) and not fmt.startswith("keras"):
        raise ValueError(f"save_pretrained(format={fmt!r}): this model is quantized to int8, which only the Keras "
                         "formats hold; use format='keras' (model.weights.h5).")
    model.build_weights()
    tensors = None if fmt.startswith("keras") else model.state_dict_hf()  # first: a failure here writes nothing
    os.makedirs(folder, exist_ok=True)
    config = copy.deepcopy(model.config)
    config.architectures = [type(model).__name__]
    config.dtype = model.dtype_policy.variable_dtype
    config.save_pretrained(folder)
    if fmt.startswith("keras"):
        return [_save_keras(model, folder, fmt)]
    # A folder holds one PyTorch checkpoint: the other PyTorch format's files are stale.
    replaces = [f for f in PT_FORMATS if f != fmt] if fmt in PT_FORMATS else []
    return write_hf_state(tensors, folder, fmt, config.to_dict(), max_shard_size=max_shard_size, replaces=replaces)


def _save_keras(model, folder, fmt):
    """``model.weights.h5`` (``Model.save_weights``) or ``model.keras`` (``Model.save``: Keras config and
    weights in one zip); both are read back by ``from_pretrained``."""
    name, suffix = (KERAS_WEIGHTS_NAME, ".weights.h5") if fmt == "keras" else (KERAS_MODEL_NAME, ".keras")
    with atomic_path(os.path.join(folder, name)) as tmp:
        os.remove(tmp)
        final = tmp + suffix  # Keras insists on the suffix
        try:
            model.save_weights(final) if fmt == "keras" else model.save(final)
            os.replace(final, tmp)
        finally:
            if os.path.exists(final):
                os.remove(final)
    return name
