"""ViLT: Hugging Face PyTorch names <-> keras_tfm variable paths (HF 5 writes transformers 4's names;
there is no TF or Flax ViLT)."""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, conv2d, embedding, layer_norm, linear

LAYER = "encoder.layer.{i}"
KLAYER = "encoder.layers.{i}"
TEXT = "embeddings.text_embeddings"

BACKBONE = [
    *embedding(f"{TEXT}.word_embeddings", f"{TEXT}.token_embedding"),
    *embedding(f"{TEXT}.position_embeddings", f"{TEXT}.position_embedding"),
    *embedding(f"{TEXT}.token_type_embeddings", f"{TEXT}.segment_embedding"),
    *layer_norm(f"{TEXT}.LayerNorm", f"{TEXT}.norm"),
    Rule(f"{TEXT}.position_ids", None),  # buffers in older checkpoints
    Rule(f"{TEXT}.token_type_ids", None),
    Rule("embeddings.cls_token", "embeddings.cls_token"),
    Rule("embeddings.position_embeddings", "embeddings.position_embeddings"),
    *conv2d("embeddings.patch_embeddings.projection", "embeddings.patch_embeddings"),
    *embedding("embeddings.token_type_embeddings", "embeddings.modality_embedding"),
    *layer_norm(f"{LAYER}.layernorm_before", f"{KLAYER}.attention_norm"),
    *linear(f"{LAYER}.attention.attention.query", f"{KLAYER}.self_attention.q_proj"),
    *linear(f"{LAYER}.attention.attention.key", f"{KLAYER}.self_attention.k_proj"),
    *linear(f"{LAYER}.attention.attention.value", f"{KLAYER}.self_attention.v_proj"),
    *linear(f"{LAYER}.attention.output.dense", f"{KLAYER}.self_attention.o_proj"),
    *layer_norm(f"{LAYER}.layernorm_after", f"{KLAYER}.mlp_norm"),
    *linear(f"{LAYER}.intermediate.dense", f"{KLAYER}.mlp.up_proj"),
    *linear(f"{LAYER}.output.dense", f"{KLAYER}.mlp.down_proj"),
    *layer_norm("layernorm", "encoder.final_norm"),
    *linear("pooler.dense", "pooler"),
]

# ViltForQuestionAnswering's nn.Sequential(Linear, LayerNorm, GELU, Linear).
VQA = [
    *linear("classifier.0", "classifier.dense"),
    *layer_norm("classifier.1", "classifier.norm"),
    *linear("classifier.3", "classifier.out_proj"),
]

MASKED_LM = [
    *linear("mlm_score.transform.dense", "lm_head.dense"),
    *layer_norm("mlm_score.transform.LayerNorm", "lm_head.norm"),
    Rule("mlm_score.decoder.bias", "lm_head.bias"),
    Rule("mlm_score.decoder.weight", None),  # tied to the word embeddings
]
RETRIEVAL = linear("rank_output", "rank_output")
TOKEN_CLASSIFIER = linear("classifier", "classifier")

TABLES = register_conversion(ConversionTables(BACKBONE, heads={
    "vqa": VQA, "masked_lm": MASKED_LM, "retrieval": RETRIEVAL, "token_classifier": TOKEN_CLASSIFIER}), "vilt")
