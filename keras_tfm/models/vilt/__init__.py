from keras_tfm.models.vilt.config_vilt import ViltConfig
from keras_tfm.models.vilt.heads_vilt import (
    ViltForImageAndTextRetrieval,
    ViltForImagesAndTextClassification,
    ViltForMaskedLM,
    ViltForTokenClassification,
)
from keras_tfm.models.vilt.model_vilt import ViltForQuestionAnswering, ViltModel
