"""LayoutLM: Hugging Face PyTorch names <-> keras_tfm variable paths.

BERT's names (under ``layoutlm.``) plus the four tables of box coordinates; the heads and
HF's TF exceptions are BERT's too.
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import embedding
from keras_tfm.models.bert import convert_bert
from keras_tfm.models.bert.convert_bert import CLASSIFIER, MASKED_LM, QA, TF_RENAMES  # noqa: F401  (same names)

BACKBONE = [
    *convert_bert.BACKBONE,
    *(rule for axis in "xyhw" for rule in embedding(f"embeddings.{axis}_position_embeddings",
                                                    f"embeddings.{axis}_position_embedding")),
]

# The TF head layer that holds the input embeddings (see convert_bert).
TF_SHARED_EMBEDDINGS = [("mlm___cls", "layoutlm/embeddings/")]

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"classifier": CLASSIFIER, "qa": QA, "masked_lm": MASKED_LM},
    tf_renames=TF_RENAMES, tf_shared_embeddings=TF_SHARED_EMBEDDINGS,
), "layoutlm")
