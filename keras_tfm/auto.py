"""Auto classes: pick the config / model class from ``config.json``'s ``model_type``."""

from keras_tfm import models  # noqa: F401  (importing the models fills the registry)
from keras_tfm.auto_factory import AutoConfig, AutoModel, AutoModelForCausalLM, _auto  # noqa: F401

AutoModelForSequenceClassification = _auto("AutoModelForSequenceClassification")
AutoModelForTokenClassification = _auto("AutoModelForTokenClassification")
AutoModelForQuestionAnswering = _auto("AutoModelForQuestionAnswering")
AutoModelForMaskedLM = _auto("AutoModelForMaskedLM")
AutoModelForSeq2SeqLM = _auto("AutoModelForSeq2SeqLM")
AutoModelForTextEncoding = _auto("AutoModelForTextEncoding")
AutoModelForImageClassification = _auto("AutoModelForImageClassification")
AutoModelForObjectDetection = _auto("AutoModelForObjectDetection")
AutoModelForSemanticSegmentation = _auto("AutoModelForSemanticSegmentation")
AutoModelForImageSegmentation = _auto("AutoModelForImageSegmentation")
AutoModelForUniversalSegmentation = _auto("AutoModelForUniversalSegmentation")
AutoBackbone = _auto("AutoBackbone")
AutoModelForCTC = _auto("AutoModelForCTC")
AutoModelForAudioClassification = _auto("AutoModelForAudioClassification")
AutoModelForSpeechSeq2Seq = _auto("AutoModelForSpeechSeq2Seq")
AutoModelForVision2Seq = _auto("AutoModelForVision2Seq")
AutoModelForVisualQuestionAnswering = _auto("AutoModelForVisualQuestionAnswering")
AutoModelForDocumentQuestionAnswering = _auto("AutoModelForDocumentQuestionAnswering")


class AutoModelForImageTextToText(AutoModelForVision2Seq):
    """HF 5's name for ``AutoModelForVision2Seq`` (the same models)."""

    registry_name = "AutoModelForVision2Seq"


# The seed's TensorFlow code names these; on keras_tfm every model runs on every backend.
TFAutoModel = AutoModel
TFAutoModelForSequenceClassification = AutoModelForSequenceClassification
TFAutoModelForTokenClassification = AutoModelForTokenClassification
TFAutoModelForQuestionAnswering = AutoModelForQuestionAnswering
TFAutoModelForMaskedLM = AutoModelForMaskedLM
TFAutoModelForCausalLM = AutoModelForCausalLM
TFAutoModelForSeq2SeqLM = AutoModelForSeq2SeqLM
TFAutoModelForImageClassification = AutoModelForImageClassification
TFAutoModelForSemanticSegmentation = AutoModelForSemanticSegmentation
TFAutoModelForAudioClassification = AutoModelForAudioClassification
TFAutoModelForSpeechSeq2Seq = AutoModelForSpeechSeq2Seq
TFAutoModelForVision2Seq = AutoModelForVision2Seq
TFAutoModelForDocumentQuestionAnswering = AutoModelForDocumentQuestionAnswering
