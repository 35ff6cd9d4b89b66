from keras_tfm.models.vilt.config_vilt import ViltConfig
from keras_tfm.models.vilt.model_vilt import (
    ViltForImageAndTextRetrieval,
    ViltForImagesAndTextClassification,
    ViltForMaskedLM,
    ViltForQuestionAnswering,
    ViltForTokenClassification,
    ViltModel,
)
