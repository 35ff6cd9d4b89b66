"""keras_tfm: the Hugging Face Transformers experience on Keras 3, for PyTorch, TensorFlow and JAX."""

__version__ = "0.1.0"

from keras_tfm.auto import (  # noqa: E402
    AutoBackbone,
    AutoConfig,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForCausalLM,
    AutoModelForCTC,
    AutoModelForDocumentQuestionAnswering,
    AutoModelForImageClassification,
    AutoModelForImageSegmentation,
    AutoModelForImageTextToText,
    AutoModelForMaskedLM,
    AutoModelForObjectDetection,
    AutoModelForQuestionAnswering,
    AutoModelForSemanticSegmentation,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForSpeechSeq2Seq,
    AutoModelForTextEncoding,
    AutoModelForTokenClassification,
    AutoModelForUniversalSegmentation,
    AutoModelForVision2Seq,
    AutoModelForVisualQuestionAnswering,
    TFAutoModel,
    TFAutoModelForAudioClassification,
    TFAutoModelForCausalLM,
    TFAutoModelForDocumentQuestionAnswering,
    TFAutoModelForImageClassification,
    TFAutoModelForMaskedLM,
    TFAutoModelForQuestionAnswering,
    TFAutoModelForSemanticSegmentation,
    TFAutoModelForSeq2SeqLM,
    TFAutoModelForSequenceClassification,
    TFAutoModelForSpeechSeq2Seq,
    TFAutoModelForTokenClassification,
    TFAutoModelForVision2Seq,
)
from keras_tfm.checkpoints.errors import CheckpointError  # noqa: E402
from keras_tfm.config_checks import ConfigError  # noqa: E402
from keras_tfm.processing.tokenizer_files import TokenizerError  # noqa: E402
from keras_tfm.processing.image_utils import ImageFileError  # noqa: E402
from keras_tfm.configuration_utils import PretrainedConfig  # noqa: E402
from keras_tfm.processing import AutoTokenizer, BatchEncoding, PreTrainedTokenizer, PreTrainedTokenizerFast  # noqa: E402
from keras_tfm.processing import (  # noqa: E402
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoProcessor,
    BaseImageProcessor,
    BatchFeature,
    BlipImageProcessor,
    BlipProcessor,
    ConvNextFeatureExtractor,
    ConvNextImageProcessor,
    DetrFeatureExtractor,
    DetrImageProcessor,
    FeatureExtractionMixin,
    ImageProcessingMixin,
    LayoutLMTokenizer,
    LayoutLMTokenizerFast,
    ProcessorMixin,
    SegformerFeatureExtractor,
    SegformerImageProcessor,
    SequenceFeatureExtractor,
    ViTFeatureExtractor,
    ViTImageProcessor,
    ViltFeatureExtractor,
    ViltImageProcessor,
    ViltProcessor,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Processor,
    WhisperFeatureExtractor,
    WhisperProcessor,
    WhisperTokenizer,
    WhisperTokenizerFast,
)
from keras_tfm.modeling_outputs import ModelOutput  # noqa: E402
from keras_tfm.modeling_utils import PreTrainedModel  # noqa: E402
from keras_tfm.models.bert import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from keras_tfm.models.distilbert import (  # noqa: E402
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from keras_tfm.models.roberta import (  # noqa: E402
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
)
from keras_tfm.models.layoutlm import (  # noqa: E402
    LayoutLMConfig,
    LayoutLMForMaskedLM,
    LayoutLMForQuestionAnswering,
    LayoutLMForSequenceClassification,
    LayoutLMForTokenClassification,
    LayoutLMModel,
)
from keras_tfm.pipelines import pipeline  # noqa: E402
from keras_tfm.generation import (  # noqa: E402
    GenerationConfig,
    GenerationMixin,
    TextIteratorStreamer,
    TextStreamer,
)
from keras_tfm.models.gpt2 import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel, GPT2Model  # noqa: E402
from keras_tfm.models.llama import (  # noqa: E402
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaModel,
    MistralConfig,
    MistralForCausalLM,
    MistralForSequenceClassification,
    MistralModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2ForSequenceClassification,
    Qwen2Model,
)
from keras_tfm.models.t5 import (  # noqa: E402
    MT5Config,
    MT5EncoderModel,
    MT5ForConditionalGeneration,
    MT5Model,
    T5Config,
    T5EncoderModel,
    T5ForConditionalGeneration,
    T5Model,
)
from keras_tfm.models.bart import (  # noqa: E402
    BartConfig,
    BartForConditionalGeneration,
    BartForQuestionAnswering,
    BartForSequenceClassification,
    BartModel,
    MBartConfig,
    MBartForConditionalGeneration,
    MBartForQuestionAnswering,
    MBartForSequenceClassification,
    MBartModel,
)
from keras_tfm.models.detr import (  # noqa: E402
    DetrConfig,
    DetrForObjectDetection,
    DetrForSegmentation,
    DetrModel,
)
from keras_tfm.models.resnet import (  # noqa: E402
    ResNetBackbone,
    ResNetConfig,
    ResNetForImageClassification,
    ResNetModel,
)
from keras_tfm.models.vit import ViTConfig, ViTForImageClassification, ViTModel  # noqa: E402
from keras_tfm.models.vision_encoder_decoder import (  # noqa: E402
    VisionEncoderDecoderConfig,
    VisionEncoderDecoderModel,
)
from keras_tfm.models.vilt import (  # noqa: E402
    ViltConfig,
    ViltForImageAndTextRetrieval,
    ViltForImagesAndTextClassification,
    ViltForMaskedLM,
    ViltForQuestionAnswering,
    ViltForTokenClassification,
    ViltModel,
)
from keras_tfm.models.segformer import (  # noqa: E402
    SegformerConfig,
    SegformerDecodeHead,
    SegformerForImageClassification,
    SegformerForSemanticSegmentation,
    SegformerModel,
)
from keras_tfm.models.wav2vec2 import (  # noqa: E402
    Wav2Vec2Config,
    Wav2Vec2ForCTC,
    Wav2Vec2ForSequenceClassification,
    Wav2Vec2Model,
)
from keras_tfm.models.blip import (  # noqa: E402
    BlipConfig,
    BlipForConditionalGeneration,
    BlipTextConfig,
    BlipTextLMHeadModel,
    BlipVisionConfig,
    BlipVisionModel,
)
from keras_tfm.models.whisper import (  # noqa: E402
    WhisperConfig,
    WhisperForConditionalGeneration,
    WhisperModel,
)
from keras_tfm.training import (  # noqa: E402
    DataCollatorCTCWithPadding,
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorForTokenClassification,
    DataCollatorSpeechSeq2SeqWithPadding,
    DataCollatorWithPadding,
    DefaultDataCollator,
    EarlyStoppingCallback,
    EvalPrediction,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    default_data_collator,
    set_seed,
)
