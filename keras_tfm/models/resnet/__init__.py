from keras_tfm.models.resnet.config_resnet import ResNetConfig
from keras_tfm.models.resnet.model_resnet import ResNetBackbone, ResNetForImageClassification, ResNetModel
