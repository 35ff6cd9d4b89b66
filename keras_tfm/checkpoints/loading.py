"""Loading a model's weights: find the checkpoint in any format, open it in HF names, fill the model.

``from_pretrained`` calls ``load_pretrained_weights`` on a freshly built model. PyTorch,
TF and Flax checkpoints are read lazily as one mapping in HF PyTorch names
(``formats.open_hf_state``) and handed to the model's ``load_state_dict_hf``, which maps
each name through the model's ``WeightMap``. Keras-native saves (``model.weights.h5``,
``model.keras``) are read by Keras itself. Either way the result is HF's loading report.
"""

import logging

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.formats import find_checkpoint, open_hf_state
from keras_tfm.deferred_init import deferred_initialization, forget_deferred, materialize
from keras_tfm.quantization import quantization_settings, quantize_model

logger = logging.getLogger(__name__)


def source_format(from_pt=None, from_tf=None, from_flax=None, use_safetensors=None):
    """The format asked for by HF's ``from_*`` flags (None: detect, safetensors first)."""
    asked = [f for f, v in (("pt", from_pt), ("tf", from_tf), ("flax", from_flax)) if v]
    if len(asked) > 1:
        raise ValueError(f"Pass at most one of from_pt / from_tf / from_flax (got {', '.join(asked)}).")
    if asked:
        if asked[0] == "pt" and use_safetensors is not None:
            return "safetensors" if use_safetensors else "bin"
        return asked[0]
    if use_safetensors:
        return "safetensors"
    if use_safetensors is False:
        return "bin"
    return None


def load_pretrained_weights(model, path_or_id, fmt=None, ignore_mismatched_sizes=False, **hub_kwargs):
    """Fills ``model`` from the checkpoint of a folder or hub id in any format; returns HF's loading report.

    The report has ``missing_keys``, ``unexpected_keys`` and ``mismatched_keys``.
    """
    fmt, files = find_checkpoint(path_or_id, fmt, **hub_kwargs)
    quantized = getattr(model.config, "quantization_config", None)
    settings = quantized and quantization_settings(quantized)  # a GPTQ / bitsandbytes config: refused here
    if settings and fmt != "keras":
        raise CheckpointError(f"{path_or_id}: its config says the model is quantized ({quantized}), which only a "
                              f"Keras-format checkpoint (model.weights.h5) holds; found {files[0]}.")
    if fmt == "keras":
        model.build_weights()
        materialize(model.weights)  # Keras assigns each variable: it needs one to assign to
        if settings:  # the int8 variables the file holds: quantize the empty skeleton, then load into it
            with deferred_initialization(active=False):  # Keras assigns the int8 variables it creates
                quantize_model(model, settings)
        try:
            model.load_weights(files[0])
        except Exception as e:
            raise CheckpointError(f"{files[0]} does not fit {type(model).__name__}: {e}") from None
        forget_deferred(model.weights)  # Keras loaded every variable
        return {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    # model_type: the architecture's renames of tensors whose PyTorch name changed after its TF / Flax files
    state = open_hf_state(path_or_id, fmt, model_type=getattr(model.config, "model_type", None), **hub_kwargs)
    return model.load_state_dict_hf(state, ignore_mismatched_sizes=ignore_mismatched_sizes)


def report_loading(cls_name, path, info):
    """Logs the loading report as ``transformers`` does (unused, newly initialised, resized weights)."""
    if info["unexpected_keys"]:
        logger.warning(
            "Some weights of %s were not used when initializing %s: %s", path, cls_name, info["unexpected_keys"]
        )
    if info["missing_keys"]:
        logger.warning(
            "Some weights of %s were not initialized from the checkpoint at %s and are newly initialized: %s\n"
            "You should probably TRAIN this model on a down-stream task to be able to use it for predictions "
            "and inference.",
            cls_name, path, info["missing_keys"],
        )
    for name, got, want in info["mismatched_keys"]:
        logger.warning("%s: %s has shape %s in the checkpoint, %s in the model; newly initialized.", cls_name, name, got, want)
