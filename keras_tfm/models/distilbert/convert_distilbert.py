"""DistilBERT: Hugging Face PyTorch names <-> keras_tfm variable paths."""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, embedding, layer_norm, linear

LAYER = "transformer.layer.{i}"
KLAYER = "encoder.layers.{i}"

BACKBONE = [
    *embedding("embeddings.word_embeddings", "embeddings.token_embedding"),
    *embedding("embeddings.position_embeddings", "embeddings.position_embedding"),
    *layer_norm("embeddings.LayerNorm", "embeddings.norm"),
    *linear(f"{LAYER}.attention.q_lin", f"{KLAYER}.self_attention.q_proj"),
    *linear(f"{LAYER}.attention.k_lin", f"{KLAYER}.self_attention.k_proj"),
    *linear(f"{LAYER}.attention.v_lin", f"{KLAYER}.self_attention.v_proj"),
    *linear(f"{LAYER}.attention.out_lin", f"{KLAYER}.self_attention.o_proj"),
    *layer_norm(f"{LAYER}.sa_layer_norm", f"{KLAYER}.attention_norm"),
    *linear(f"{LAYER}.ffn.lin1", f"{KLAYER}.mlp.up_proj"),
    *linear(f"{LAYER}.ffn.lin2", f"{KLAYER}.mlp.down_proj"),
    *layer_norm(f"{LAYER}.output_layer_norm", f"{KLAYER}.mlp_norm"),
    Rule("embeddings.position_ids", None),  # a buffer in older checkpoints
]

SEQUENCE_CLASSIFIER = [*linear("pre_classifier", "pre_classifier"), *linear("classifier", "classifier")]
TOKEN_CLASSIFIER = linear("classifier", "classifier")
QA = linear("qa_outputs", "qa_outputs")
MASKED_LM = [
    *linear("vocab_transform", "lm_head.dense"),
    *layer_norm("vocab_layer_norm", "lm_head.norm"),
    Rule("vocab_projector.bias", "lm_head.bias"),
    Rule("vocab_projector.weight", None),  # tied to the word embeddings
]

# Exceptions to the generic PT -> TF naming (keras_tfm.checkpoints.naming).
TF_RENAMES = [(r"word_embeddings/embeddings:0$", "word_embeddings/weight:0")]

# The TF head layer that holds the input embeddings: a single-file tf_model.h5 lists them in
# its group too, as HF's TF models wrote it.
TF_SHARED_EMBEDDINGS = [("vocab_projector", "distilbert/embeddings/")]

# This architecture's conversion tables, found by model_type.

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"sequence_classifier": SEQUENCE_CLASSIFIER, "token_classifier": TOKEN_CLASSIFIER, "qa": QA,
                     "masked_lm": MASKED_LM},
    tf_renames=TF_RENAMES, tf_shared_embeddings=TF_SHARED_EMBEDDINGS,
), "distilbert")
