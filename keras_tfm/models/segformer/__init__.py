from keras_tfm.models.segformer.config_segformer import SegformerConfig
from keras_tfm.models.segformer.model_segformer import (
    SegformerDecodeHead,
    SegformerForImageClassification,
    SegformerForSemanticSegmentation,
    SegformerModel,
)
