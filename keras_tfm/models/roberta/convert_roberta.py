"""RoBERTa: Hugging Face PyTorch names <-> keras_tfm variable paths.

The backbone has BERT's tensor names (under ``roberta.``), so BERT's table is reused.
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, layer_norm, linear
from keras_tfm.models.bert.convert_bert import BACKBONE, QA  # noqa: F401  (same names as BERT)

CLASSIFICATION_HEAD = [
    *linear("classifier.dense", "classifier.dense"),
    *linear("classifier.out_proj", "classifier.out_proj"),
]
TOKEN_CLASSIFIER = linear("classifier", "classifier")
MASKED_LM = [
    *linear("lm_head.dense", "lm_head.dense"),
    *layer_norm("lm_head.layer_norm", "lm_head.norm"),
    Rule("lm_head.bias", "lm_head.bias"),
    Rule("lm_head.decoder.weight", None),  # tied to the word embeddings
    Rule("lm_head.decoder.bias", None),  # tied to lm_head.bias
]

# Exceptions to the generic PT -> TF naming (keras_tfm.checkpoints.naming).
TF_RENAMES = [(r"word_embeddings/embeddings:0$", "word_embeddings/weight:0")]

# The TF head layer that holds the input embeddings: a single-file tf_model.h5 lists them in
# its group too, as HF's TF models wrote it.
TF_SHARED_EMBEDDINGS = [("lm_head", "roberta/embeddings/")]

# This architecture's conversion tables, found by model_type.

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"classification_head": CLASSIFICATION_HEAD, "token_classifier": TOKEN_CLASSIFIER, "qa": QA,
                     "masked_lm": MASKED_LM},
    tf_renames=TF_RENAMES, tf_shared_embeddings=TF_SHARED_EMBEDDINGS,
), "roberta")
