"""GPT-2: Hugging Face PyTorch names <-> keras_tfm variable paths.

GPT-2's ``Conv1D`` stores its weight as (in, out), the layout of a Keras Dense kernel:
no transpose, and the fused ``c_attn`` (C, 3C) stays fused.
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, embedding, layer_norm


def conv1d(hf, keras):
    """A GPT-2 Conv1D <-> keras Dense: same (in, out) layout."""
    return [Rule(f"{hf}.weight", f"{keras}.kernel"), Rule(f"{hf}.bias", f"{keras}.bias")]


H, K = "h.{i}", "decoder.layers.{i}"

BACKBONE = [
    *embedding("wte", "wte"),
    *embedding("wpe", "wpe"),
    *layer_norm(f"{H}.ln_1", f"{K}.attention_norm"),
    *conv1d(f"{H}.attn.c_attn", f"{K}.self_attention.qkv_proj"),
    *conv1d(f"{H}.attn.c_proj", f"{K}.self_attention.o_proj"),
    *layer_norm(f"{H}.ln_2", f"{K}.mlp_norm"),
    *conv1d(f"{H}.mlp.c_fc", f"{K}.mlp.up_proj"),
    *conv1d(f"{H}.mlp.c_proj", f"{K}.mlp.down_proj"),
    *layer_norm("ln_f", "decoder.final_norm"),
    Rule(f"{H}.attn.bias", None),  # the causal-mask buffer of older checkpoints
    Rule(f"{H}.attn.masked_bias", None),
    # add_cross_attention: the query from the decoder (q_attn), keys and values fused (c_attn, 2C)
    *layer_norm(f"{H}.ln_cross_attn", f"{K}.cross_attention_norm"),
    *conv1d(f"{H}.crossattention.q_attn", f"{K}.cross_attention.q_proj"),
    *conv1d(f"{H}.crossattention.c_attn", f"{K}.cross_attention.kv_proj"),
    *conv1d(f"{H}.crossattention.c_proj", f"{K}.cross_attention.o_proj"),
    Rule(f"{H}.crossattention.bias", None),
    Rule(f"{H}.crossattention.masked_bias", None),
]

# Exceptions to the generic PT -> TF / Flax naming (keras_tfm.checkpoints.naming): HF's TF GPT-2
# kept Conv1D's (in, out) `weight` and stored its bias as (1, out); its Flax GPT-2 stores a
# transposed `kernel`, as for a Linear.
TF_KINDS = [(r"\.(c_attn|c_proj|c_fc|q_attn)\.weight$", "param")]
TF_EXPAND = [r"\.(c_attn|c_proj|c_fc|q_attn)\.bias$"]
FLAX_KINDS = [(r"\.(c_attn|c_proj|c_fc|q_attn)\.weight$", "linear")]

# This architecture's conversion tables, found by model_type.

TABLES = register_conversion(ConversionTables(
    BACKBONE, tf_kinds=TF_KINDS, tf_expand=TF_EXPAND, flax_kinds=FLAX_KINDS,
), "gpt2")
