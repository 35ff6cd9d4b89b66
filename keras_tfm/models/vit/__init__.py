from keras_tfm.models.vit.config_vit import ViTConfig
from keras_tfm.models.vit.model_vit import ViTForImageClassification, ViTModel
