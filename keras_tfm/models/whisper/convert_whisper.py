"""Whisper: Hugging Face PyTorch names <-> keras_tfm variable paths."""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import TRANSPOSE, Rule, conv1d, embedding, layer_norm, linear


def _attention(hf, keras):
    """q / v / o with biases, k without (Whisper's attention)."""
    return [*linear(f"{hf}.q_proj", f"{keras}.q_proj"), Rule(f"{hf}.k_proj.weight", f"{keras}.k_proj.kernel", TRANSPOSE),
            *linear(f"{hf}.v_proj", f"{keras}.v_proj"), *linear(f"{hf}.out_proj", f"{keras}.o_proj")]


def _stack(side, cross):
    """One side's blocks and final norm ("encoder" / "decoder")."""
    hf, keras = f"{side}.layers.{{i}}", f"{side}.layers.{{i}}"
    rules = [*_attention(f"{hf}.self_attn", f"{keras}.self_attention"),
             *layer_norm(f"{hf}.self_attn_layer_norm", f"{keras}.attention_norm")]
    if cross:
        rules += [*_attention(f"{hf}.encoder_attn", f"{keras}.cross_attention"),
                  *layer_norm(f"{hf}.encoder_attn_layer_norm", f"{keras}.cross_attention_norm")]
    return [*rules, *linear(f"{hf}.fc1", f"{keras}.mlp.up_proj"), *linear(f"{hf}.fc2", f"{keras}.mlp.down_proj"),
            *layer_norm(f"{hf}.final_layer_norm", f"{keras}.mlp_norm"),
            *embedding(f"{side}.embed_positions", f"{side}_positions"),
            *layer_norm(f"{side}.layer_norm", f"{side}.final_norm")]


BACKBONE = [
    *conv1d("encoder.conv1", "conv1"), *conv1d("encoder.conv2", "conv2"),
    *_stack("encoder", cross=False),
    *embedding("decoder.embed_tokens", "embed_tokens"),
    *_stack("decoder", cross=True),
]

# proj_out has a tensor of its own only when the config does not tie it to the decoder's embed_tokens
LM_HEAD = [Rule("proj_out.weight", "proj_out.kernel", TRANSPOSE, optional=True)]

# HF's TF Whisper named its blocks "layers.N" (not TF-Keras's "layers_._N").
TF_RENAMES = [(r"/layers_\._(\d+)/", r"/layers.\1/")]

TABLES = register_conversion(ConversionTables(BACKBONE, heads={"lm": LM_HEAD}, tf_renames=TF_RENAMES), "whisper")
