"""BART / MBart: Hugging Face PyTorch names <-> keras_tfm variable paths."""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import TRANSPOSE, Rule, embedding, layer_norm, linear


def _stack(side, cross):
    """The rules of one side ("encoder" / "decoder"): its blocks, positions and norms."""
    hf, keras = f"{side}.layers.{{i}}", f"{side}.layers.{{i}}"
    attention = [("self_attn", "self_attention", "self_attn_layer_norm", "attention_norm")]
    if cross:
        attention.append(("encoder_attn", "cross_attention", "encoder_attn_layer_norm", "cross_attention_norm"))
    rules = []
    for hf_attention, keras_attention, hf_norm, keras_norm in attention:
        for proj in ("q_proj", "k_proj", "v_proj"):
            rules += linear(f"{hf}.{hf_attention}.{proj}", f"{keras}.{keras_attention}.{proj}")
        rules += linear(f"{hf}.{hf_attention}.out_proj", f"{keras}.{keras_attention}.o_proj")
        rules += layer_norm(f"{hf}.{hf_norm}", f"{keras}.{keras_norm}")
    return [
        *rules,
        *linear(f"{hf}.fc1", f"{keras}.mlp.up_proj"),
        *linear(f"{hf}.fc2", f"{keras}.mlp.down_proj"),
        *layer_norm(f"{hf}.final_layer_norm", f"{keras}.mlp_norm"),
        *embedding(f"{side}.embed_positions", f"{side}_positions"),
        *layer_norm(f"{side}.layernorm_embedding", f"{side}_embedding_norm"),
        *layer_norm(f"{side}.layer_norm", f"{side}.final_norm"),  # MBart's final norms
        # tied (the default), the encoder's and decoder's token embeddings are `shared`: a
        # checkpoint's copies of it are skipped, none is written
        Rule(f"{side}.embed_tokens.weight", f"{side}_embed_tokens.embeddings", optional=True),
        Rule(f"{side}.version", None),  # fairseq's buffer in old checkpoints
    ]


BACKBONE = [*embedding("shared", "shared"), *_stack("encoder", cross=False), *_stack("decoder", cross=True)]

LM_HEAD = [
    Rule("final_logits_bias", "final_logits_bias"),
    # lm_head has a tensor of its own only when the config does not tie it to `shared`
    Rule("lm_head.weight", "lm_head.kernel", TRANSPOSE, optional=True),
]
CLASSIFIER = [*linear("classification_head.dense", "classification_head.dense"),
              *linear("classification_head.out_proj", "classification_head.out_proj")]
QA = linear("qa_outputs", "qa_outputs")

# This architecture's conversion tables, found by model_type.

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"lm": LM_HEAD, "classifier": CLASSIFIER, "qa": QA},
), "bart", "mbart")
