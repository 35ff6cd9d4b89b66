"""BERT: Hugging Face PyTorch names <-> keras_tfm variable paths."""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, embedding, layer_norm, linear

LAYER = "encoder.layer.{i}"
KLAYER = "encoder.layers.{i}"

BACKBONE = [
    *embedding("embeddings.word_embeddings", "embeddings.token_embedding"),
    *embedding("embeddings.position_embeddings", "embeddings.position_embedding"),
    *embedding("embeddings.token_type_embeddings", "embeddings.segment_embedding"),
    *layer_norm("embeddings.LayerNorm", "embeddings.norm"),
    *linear(f"{LAYER}.attention.self.query", f"{KLAYER}.self_attention.q_proj"),
    *linear(f"{LAYER}.attention.self.key", f"{KLAYER}.self_attention.k_proj"),
    *linear(f"{LAYER}.attention.self.value", f"{KLAYER}.self_attention.v_proj"),
    *linear(f"{LAYER}.attention.output.dense", f"{KLAYER}.self_attention.o_proj"),
    *layer_norm(f"{LAYER}.attention.output.LayerNorm", f"{KLAYER}.attention_norm"),
    *linear(f"{LAYER}.intermediate.dense", f"{KLAYER}.mlp.up_proj"),
    *linear(f"{LAYER}.output.dense", f"{KLAYER}.mlp.down_proj"),
    *layer_norm(f"{LAYER}.output.LayerNorm", f"{KLAYER}.mlp_norm"),
    *linear("pooler.dense", "pooler"),
    Rule("embeddings.position_ids", None),  # a buffer in older checkpoints
    Rule("embeddings.token_type_ids", None),
]

CLASSIFIER = linear("classifier", "classifier")
QA = linear("qa_outputs", "qa_outputs")
MASKED_LM = [
    *linear("cls.predictions.transform.dense", "lm_head.dense"),
    *layer_norm("cls.predictions.transform.LayerNorm", "lm_head.norm"),
    Rule("cls.predictions.bias", "lm_head.bias"),
    Rule("cls.predictions.decoder.weight", None),  # tied to the word embeddings
    Rule("cls.predictions.decoder.bias", None),  # tied to cls.predictions.bias
    Rule("cls.seq_relationship.weight", None),  # pre-training NSP head, unused by MaskedLM
    Rule("cls.seq_relationship.bias", None),
]

# Exceptions to the generic PT -> TF / Flax naming (keras_tfm.checkpoints.naming): HF's TF
# BERT named its word embeddings `weight` and wrapped the MLM head as `mlm___cls`.
TF_RENAMES = [(r"word_embeddings/embeddings:0$", "word_embeddings/weight:0"), (r"^cls/", "mlm___cls/")]

# The TF head layer that holds the input embeddings: a single-file tf_model.h5 lists them in
# its group too, as HF's TF models wrote it.
TF_SHARED_EMBEDDINGS = [("mlm___cls", "bert/embeddings/")]

# This architecture's conversion tables, found by model_type.

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"classifier": CLASSIFIER, "qa": QA, "masked_lm": MASKED_LM},
    tf_renames=TF_RENAMES, tf_shared_embeddings=TF_SHARED_EMBEDDINGS,
), "bert")
