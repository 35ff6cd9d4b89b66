"""Checks on a configuration's values before any model is built from it.

``config.json`` files come from strangers: a size of 0, ``"32"``, -1 or 10**9 must be refused here
with a ``ConfigError`` naming the field, not end as a ZeroDivisionError, a model with no layers or an
aborted process when the weights are allocated.
"""

import math
import os

from keras_tfm.layers.activations import ACTIVATION_NAMES

# (width, heads) pairs where each attention head gets width / heads channels (unless head_dim is given).
_SPLIT_WIDTHS = (("hidden_size", "num_attention_heads"), ("n_embd", "n_head"), ("d_model", "encoder_attention_heads"),
                 ("d_model", "decoder_attention_heads"), ("dim", "n_heads"))

# Fields that are a count of something, when present and not None: (smallest valid value, fields).
_SIZES = (1, ("hidden_size", "num_attention_heads", "intermediate_size", "vocab_size", "max_position_embeddings",
              "n_embd", "n_head", "n_positions", "n_inner", "d_model", "d_ff", "d_kv", "num_heads",
              "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
              "num_key_value_heads", "dim", "hidden_dim", "n_heads", "num_channels", "head_dim", "num_labels",
              "type_vocab_size"))
_LAYER_COUNTS = (0, ("num_hidden_layers", "n_layer", "num_layers", "num_decoder_layers", "encoder_layers",
                     "decoder_layers", "n_layers"))
SIZE_FIELDS = _SIZES[1] + _LAYER_COUNTS[1]
# Real numbers: (smallest, largest or None, fields). Rates are probabilities (Keras' Dropout refuses 1).
_NUMBERS = ((0, None, ("layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps", "initializer_range",
                       "initializer_factor", "init_std", "rope_theta")),
            (0, 0.999999, ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout",
                           "activation_dropout", "classifier_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
                           "dropout_rate", "summary_first_dropout", "seq_classif_dropout", "qa_dropout")))
_TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "sep_token_id",
              "cls_token_id")
_STRINGS = ("model_type", "hidden_act", "activation_function", "problem_type")
# A configuration whose weights would not fit in the machine's memory even at this many bytes per
# parameter (bfloat16) is refused: building it would only end in the out-of-memory killer.
_SMALLEST_BYTES_PER_PARAMETER = 2
# Each label also gets a name in id2label ({i: "LABEL_i"}): at least this many bytes of Python objects.
_BYTES_PER_LABEL_NAME = 100


class ConfigError(ValueError):
    """A configuration no model can be built from; the message names the file (when there is one) and the field."""


def check_config_dict(config_dict):
    """Raises ``ConfigError`` for a field of ``config_dict`` of the wrong type or range, a malformed
    ``id2label``, or sizes whose weights could not fit in this machine's memory."""
    for smallest, fields in (_SIZES, _LAYER_COUNTS):
        for field in fields:
            value = config_dict.get(field)
            # Per-stage architectures (SegFormer) give a list: one value per stage.
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if item is None:
                    continue
                if not isinstance(item, int) or isinstance(item, bool):
                    raise ConfigError(f"{field}={value!r} must be an integer, not {type(item).__name__}.")
                if item < smallest:
                    raise ConfigError(f"{field}={value} must be at least {smallest}.")
    for smallest, largest, fields in _NUMBERS:
        for field in fields:
            value = config_dict.get(field)
            if value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"{field}={value!r} must be a finite number.")
            if value < smallest or (largest is not None and value > largest):
                raise ConfigError(f"{field}={value} must lie in [{smallest}, {largest if largest is not None else 'inf'}].")
    for field in _TOKEN_IDS:
        value = config_dict.get(field)
        for item in value if isinstance(value, list) and field == "eos_token_id" else [value]:
            if item is not None and (not isinstance(item, int) or isinstance(item, bool)):
                raise ConfigError(f"{field}={value!r} must be a token id (an integer) or null.")
    for field in _STRINGS:
        if config_dict.get(field) is not None and not isinstance(config_dict[field], str):
            raise ConfigError(f"{field}={config_dict[field]!r} must be a string.")
    for field in ("hidden_act", "activation_function"):
        if field in config_dict and config_dict[field] not in ACTIVATION_NAMES:
            raise ConfigError(f"{field}={config_dict[field]!r} is not an activation keras_tfm knows: "
                              f"{', '.join(sorted(ACTIVATION_NAMES))}.")
    architectures = config_dict.get("architectures")
    if architectures is not None and not (isinstance(architectures, list)
                                          and all(isinstance(a, str) for a in architectures)):
        raise ConfigError(f"architectures={architectures!r} must be a list of class names.")
    if config_dict.get("label2id") is not None and not isinstance(config_dict["label2id"], dict):
        raise ConfigError(f"label2id must be an object {{label: id}}, not a {type(config_dict['label2id']).__name__}.")
    id2label = config_dict.get("id2label")
    if id2label is not None:
        if not isinstance(id2label, dict):
            raise ConfigError(f"id2label must be an object {{id: label}}, not a {type(id2label).__name__}.")
        for key in id2label:
            if not (isinstance(key, int) or (isinstance(key, str) and key.lstrip("-").isdigit())):
                raise ConfigError(f"id2label has the key {key!r}, which is not an integer id.")
    if config_dict.get("head_dim") is None:  # heads split the width: each gets width / heads
        for width, heads in _SPLIT_WIDTHS:
            w, h = config_dict.get(width), config_dict.get(heads)
            if isinstance(w, int) and isinstance(h, int) and h > 0 and w % h:
                raise ConfigError(f"{width}={w} is not a multiple of {heads}={h}.")
    labels = config_dict.get("num_labels") if isinstance(config_dict.get("num_labels"), int) else 0
    weight_bytes = (_SMALLEST_BYTES_PER_PARAMETER * estimated_parameters(config_dict)
                    + _BYTES_PER_LABEL_NAME * labels)
    memory = _physical_memory()
    if memory and weight_bytes > memory:
        raise ConfigError(f"the sizes describe about {weight_bytes / 1e9:.3g} GB of weights even in bfloat16 (label "
                          f"names included), more than this machine's memory ({memory / 1e9:.3g} GB).")


def estimated_parameters(config_dict):
    """A rough transformer parameter count (embeddings, per-layer attention and MLP, a classifier) from the
    size fields."""
    def first(*names, default=0):
        return next((config_dict[n] for n in names if isinstance(config_dict.get(n), int)), default)

    hidden = first("hidden_size", "n_embd", "d_model", "dim")
    inner = first("intermediate_size", "n_inner", "d_ff", "encoder_ffn_dim", "hidden_dim", default=4 * hidden)
    layers = sum(config_dict.get(n) or 0 for n in _LAYER_COUNTS[1] if isinstance(config_dict.get(n), int))
    rows = first("vocab_size") + first("max_position_embeddings", "n_positions") + first("type_vocab_size")
    heads = first("num_labels")  # a classifier's output rows
    return (rows + heads) * hidden + layers * (4 * hidden * hidden + 3 * hidden * inner)


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform
        return None
