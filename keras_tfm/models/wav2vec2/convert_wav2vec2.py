"""Wav2Vec2: Hugging Face PyTorch names <-> keras_tfm variable paths.

The positional conv is weight-normalised: transformers 5 writes its magnitude and direction as
``conv.parametrizations.weight.original0`` / ``original1`` (torch's parametrization), older files
as ``conv.weight_g`` / ``conv.weight_v``; both are read, the first written.
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import CONV1D, Rule, conv1d, layer_norm, linear

CONV = "feature_extractor.conv_layers.{i}"
POS = "encoder.pos_conv_embed.conv"
LAYER = "encoder.layers.{i}"

BACKBONE = [
    *conv1d(f"{CONV}.conv", f"{CONV}.conv"),  # the bias exists with config.conv_bias only
    *layer_norm(f"{CONV}.layer_norm", f"{CONV}.norm"),  # GroupNorm or LayerNorm
    *layer_norm("feature_projection.layer_norm", "feature_layer_norm"),
    *linear("feature_projection.projection", "feature_projection"),
    Rule("masked_spec_embed", "masked_spec_embed", optional=True),  # with mask_time_prob / mask_feature_prob > 0
    Rule(f"{POS}.parametrizations.weight.original0", f"{POS}.weight_g", CONV1D),
    Rule(f"{POS}.parametrizations.weight.original1", f"{POS}.kernel", CONV1D),
    Rule(f"{POS}.weight_g", f"{POS}.weight_g", CONV1D),
    Rule(f"{POS}.weight_v", f"{POS}.kernel", CONV1D),
    Rule(f"{POS}.bias", f"{POS}.bias"),
    *layer_norm("encoder.layer_norm", "encoder.layer_norm"),
    *linear(f"{LAYER}.attention.q_proj", f"{LAYER}.self_attention.q_proj"),
    *linear(f"{LAYER}.attention.k_proj", f"{LAYER}.self_attention.k_proj"),
    *linear(f"{LAYER}.attention.v_proj", f"{LAYER}.self_attention.v_proj"),
    *linear(f"{LAYER}.attention.out_proj", f"{LAYER}.self_attention.o_proj"),
    *layer_norm(f"{LAYER}.layer_norm", f"{LAYER}.attention_norm"),
    *linear(f"{LAYER}.feed_forward.intermediate_dense", f"{LAYER}.mlp.up_proj"),
    *linear(f"{LAYER}.feed_forward.output_dense", f"{LAYER}.mlp.down_proj"),
    *layer_norm(f"{LAYER}.final_layer_norm", f"{LAYER}.mlp_norm"),
]

CTC_HEAD = linear("lm_head", "lm_head")
CLASSIFIER_HEAD = [
    Rule("layer_weights", "layer_weights", optional=True),  # with use_weighted_layer_sum
    *linear("projector", "projector"),
    *linear("classifier", "classifier"),
]

# HF's TF and Flax Wav2Vec2 kept the pre-parametrization names; TF stored the magnitude as (k, 1, 1)
# where PyTorch has (1, 1, k) (its direction, `weight_v`, is in PyTorch's layout in both).
WEIGHT_NORM_NAMES = [(".conv.weight_g", ".conv.parametrizations.weight.original0"),
                     (".conv.weight_v", ".conv.parametrizations.weight.original1")]

# HF's TF Wav2Vec2 named list items with a dot (``conv_layers.0``, ``layers.1``), not TF-Keras' ``_._``.
TF_RENAMES = [(r"_\._(\d+)", r".\1")]

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"ctc": CTC_HEAD, "classifier": CLASSIFIER_HEAD}, tf_renames=TF_RENAMES,
    pt_renames=WEIGHT_NORM_NAMES,
    tf_reversed=(".conv.parametrizations.weight.original0",),
), "wav2vec2")
