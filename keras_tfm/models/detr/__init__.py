from keras_tfm.models.detr.config_detr import DetrConfig
from keras_tfm.models.detr.model_detr import DetrForObjectDetection, DetrForSegmentation, DetrModel
from keras_tfm.models.detr.outputs_detr import DetrModelOutput, DetrObjectDetectionOutput, DetrSegmentationOutput
