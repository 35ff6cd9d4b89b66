"""Llama / Mistral / Qwen2: Hugging Face PyTorch names <-> keras_tfm variable paths."""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, embedding, linear

L, K = "layers.{i}", "decoder.layers.{i}"


def rms_norm(hf, keras):
    return [Rule(f"{hf}.weight", f"{keras}.weight")]


BACKBONE = [
    *embedding("embed_tokens", "embed_tokens"),
    *linear(f"{L}.self_attn.q_proj", f"{K}.self_attention.q_proj"),
    *linear(f"{L}.self_attn.k_proj", f"{K}.self_attention.k_proj"),
    *linear(f"{L}.self_attn.v_proj", f"{K}.self_attention.v_proj"),
    *linear(f"{L}.self_attn.o_proj", f"{K}.self_attention.o_proj"),
    *linear(f"{L}.mlp.gate_proj", f"{K}.mlp.gate_proj"),
    *linear(f"{L}.mlp.up_proj", f"{K}.mlp.up_proj"),
    *linear(f"{L}.mlp.down_proj", f"{K}.mlp.down_proj"),
    *rms_norm(f"{L}.input_layernorm", f"{K}.attention_norm"),
    *rms_norm(f"{L}.post_attention_layernorm", f"{K}.mlp_norm"),
    *rms_norm("norm", "decoder.final_norm"),
    Rule(f"{L}.self_attn.rotary_emb.inv_freq", None),  # a buffer in older checkpoints
    Rule("rotary_emb.inv_freq", None),
]

# HF's Flax Llama (and TF Mistral) keep the RMSNorm parameter's PyTorch name, "weight", where the
# generic rule would write Flax's "scale" (TF's "gamma").
FLAX_KINDS = TF_KINDS = [(r"(^|\.)(input_layernorm|post_attention_layernorm|norm)\.weight$", "param")]
# HF's TF Mistral named its decoder layers "layers.N", not TF-Keras's usual "layers_._N".
TF_RENAMES = [(r"/layers_\._(\d+)/", r"/layers.\1/")]

# This architecture's conversion tables, found by model_type.

TABLES = register_conversion(ConversionTables(
    BACKBONE, tf_kinds=TF_KINDS, flax_kinds=FLAX_KINDS, tf_renames=TF_RENAMES,
), "llama", "mistral", "qwen2")
