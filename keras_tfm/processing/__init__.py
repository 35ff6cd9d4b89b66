"""Preprocessing: text tokenizers, image processors, feature extractors, and processors holding them.

Everything loaded from a JSON file beside a model shares ``JsonConfigMixin``; the Auto
classes resolve through ``keras_tfm.registry`` (``@register_processor``).
"""

from keras_tfm.processing.auto_processing import AutoFeatureExtractor, AutoImageProcessor, AutoProcessor
from keras_tfm.processing.auto_tokenizer import AutoTokenizer
from keras_tfm.processing.batch import BatchEncoding, BatchFeature
from keras_tfm.processing.feature_extraction import FeatureExtractionMixin, SequenceFeatureExtractor
from keras_tfm.processing.feature_extraction_wav2vec2 import Wav2Vec2FeatureExtractor
from keras_tfm.processing.feature_extraction_whisper import WhisperFeatureExtractor
from keras_tfm.processing.image_processing import BaseImageProcessor, ImageProcessingMixin
from keras_tfm.processing.image_processing_blip import BlipImageProcessor
from keras_tfm.processing.image_processing_convnext import ConvNextFeatureExtractor, ConvNextImageProcessor
from keras_tfm.processing.image_processing_detr import DetrFeatureExtractor, DetrImageProcessor
from keras_tfm.processing.image_processing_segformer import SegformerFeatureExtractor, SegformerImageProcessor
from keras_tfm.processing.image_processing_vilt import ViltFeatureExtractor, ViltImageProcessor
from keras_tfm.processing.image_processing_vit import ViTFeatureExtractor, ViTImageProcessor
from keras_tfm.processing.json_config import JsonConfigMixin
from keras_tfm.processing.processing_audio import SpeechProcessorMixin
from keras_tfm.processing.processing_layoutlm import tokenize_with_boxes
from keras_tfm.processing.processing_utils import ProcessorMixin
from keras_tfm.processing.processing_blip import BlipProcessor
from keras_tfm.processing.processing_vilt import ViltProcessor
from keras_tfm.processing.processing_wav2vec2 import Wav2Vec2Processor
from keras_tfm.processing.processing_whisper import WhisperProcessor
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer, PreTrainedTokenizerFast
from keras_tfm.processing.tokenization_layoutlm import LayoutLMTokenizer, LayoutLMTokenizerFast
from keras_tfm.processing.tokenization_wav2vec2 import Wav2Vec2CTCTokenizer, Wav2Vec2CTCTokenizerOutput
from keras_tfm.processing.tokenization_whisper import WhisperTokenizer, WhisperTokenizerFast

__all__ = [
    "AutoFeatureExtractor",
    "AutoImageProcessor",
    "AutoProcessor",
    "AutoTokenizer",
    "BaseImageProcessor",
    "BatchEncoding",
    "BatchFeature",
    "BlipImageProcessor",
    "BlipProcessor",
    "ConvNextFeatureExtractor",
    "ConvNextImageProcessor",
    "DetrFeatureExtractor",
    "DetrImageProcessor",
    "FeatureExtractionMixin",
    "ImageProcessingMixin",
    "JsonConfigMixin",
    "LayoutLMTokenizer",
    "LayoutLMTokenizerFast",
    "PreTrainedTokenizer",
    "PreTrainedTokenizerFast",
    "ProcessorMixin",
    "SegformerFeatureExtractor",
    "SegformerImageProcessor",
    "SequenceFeatureExtractor",
    "SpeechProcessorMixin",
    "ViTFeatureExtractor",
    "ViltFeatureExtractor",
    "ViltImageProcessor",
    "ViltProcessor",
    "ViTImageProcessor",
    "Wav2Vec2CTCTokenizer",
    "Wav2Vec2CTCTokenizerOutput",
    "Wav2Vec2FeatureExtractor",
    "Wav2Vec2Processor",
    "WhisperFeatureExtractor",
    "WhisperProcessor",
    "WhisperTokenizer",
    "WhisperTokenizerFast",
    "tokenize_with_boxes",
]
