"""``pipeline(task, model=...)``: a model, its tokenizer and the task's pre/post-processing in one call.

>>> from keras_tfm import pipeline
>>> classifier = pipeline("sentiment-analysis")  # Hugging Face's default model for the task
>>> classifier("We are very happy to show you the Transformers library.")
[{'label': 'POSITIVE', 'score': 0.9998}]

``SUPPORTED_TASKS`` lists every task with its Auto class and Hugging Face's default model
(id, pinned revision); ``translation`` has one per language pair and is also named
``translation_xx_to_yy``. Tasks without an implementation here raise NotImplementedError.
"""

import importlib
import logging
import os
import re

import huggingface_hub

from keras_tfm import auto
from keras_tfm.checkpoints.hub import ModelNotFoundError, resolve_file
from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.pipelines.audio_classification import AudioClassificationPipeline
from keras_tfm.pipelines.automatic_speech_recognition import AutomaticSpeechRecognitionPipeline
from keras_tfm.pipelines.base import KeyDataset, Pipeline
from keras_tfm.pipelines.collate import Padding
from keras_tfm.pipelines.document_question_answering import DocumentQuestionAnsweringPipeline
from keras_tfm.pipelines.feature_extraction import FeatureExtractionPipeline
from keras_tfm.pipelines.fill_mask import FillMaskPipeline
from keras_tfm.pipelines.generation_base import GenerationPipeline
from keras_tfm.pipelines.image_classification import ImageClassificationPipeline
from keras_tfm.pipelines.image_segmentation import ImageSegmentationPipeline
from keras_tfm.pipelines.image_to_text import ImageToTextPipeline
from keras_tfm.pipelines.loading import load_processors
from keras_tfm.pipelines.object_detection import ObjectDetectionPipeline
from keras_tfm.pipelines.question_answering import QuestionAnsweringPipeline
from keras_tfm.pipelines.text2text_generation import (
    SummarizationPipeline,
    Text2TextGenerationPipeline,
    TranslationPipeline,
    default_translation_task,
    translation_languages,
)
from keras_tfm.pipelines.text_classification import TextClassificationPipeline
from keras_tfm.pipelines.text_generation import TextGenerationPipeline
from keras_tfm.pipelines.token_classification import AGGREGATION_STRATEGIES, TokenClassificationPipeline
from keras_tfm.pipelines.visual_question_answering import VisualQuestionAnsweringPipeline
from keras_tfm.registry import MODELS

logger = logging.getLogger(__name__)

_IMPL = "keras_tfm.pipelines."


def _task(impl, auto_class, model_id, revision, kind="text", by_options=None):
    """A SUPPORTED_TASKS entry; ``by_options``: ``{options: (model id, revision)}`` for a task whose
    default depends on them (translation's (source, target) languages) instead of one model."""
    default = {"model": (model_id, revision)} if by_options is None else \
        {options: {"model": model} for options, model in by_options.items()}
    return {"impl": impl and _IMPL + impl, "auto": auto_class, "default": default, "type": kind}


# image-segmentation takes a model of any of these (as transformers' pipeline), the first that has the model type.
SEGMENTATION_AUTO_CLASSES = ("AutoModelForImageSegmentation", "AutoModelForSemanticSegmentation",
                             "AutoModelForUniversalSegmentation")

# automatic-speech-recognition takes CTC models and Whisper (as transformers' pipeline), the first class that has
# the model type.
ASR_AUTO_CLASSES = ("AutoModelForCTC", "AutoModelForSpeechSeq2Seq")

# Default models and revisions are those of Hugging Face transformers 5.23; tasks it removed
# (question-answering, summarization, translation, text2text-generation, visual-question-answering,
# image-to-text) keep their last 4.x defaults, and text-generation keeps GPT-2 (the quick tour's
# model; 5.x moved to SmolLM3-3B).
SUPPORTED_TASKS = {
    "text-classification": _task("text_classification.TextClassificationPipeline", "AutoModelForSequenceClassification",
                                 "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "714eb0f"),
    "token-classification": _task("token_classification.TokenClassificationPipeline", "AutoModelForTokenClassification",
                                  "dbmdz/bert-large-cased-finetuned-conll03-english", "4c53496"),
    "question-answering": _task("question_answering.QuestionAnsweringPipeline", "AutoModelForQuestionAnswering",
                                "distilbert/distilbert-base-cased-distilled-squad", "564e9b5"),
    "fill-mask": _task("fill_mask.FillMaskPipeline", "AutoModelForMaskedLM",
                       "distilbert/distilroberta-base", "fb53ab8"),
    "feature-extraction": _task("feature_extraction.FeatureExtractionPipeline", "AutoModel",
                                "distilbert/distilbert-base-cased", "6ea8117"),
    "text-generation": _task("text_generation.TextGenerationPipeline", "AutoModelForCausalLM",
                             "openai-community/gpt2", "607a30d"),
    "summarization": _task("text2text_generation.SummarizationPipeline", "AutoModelForSeq2SeqLM",
                           "sshleifer/distilbart-cnn-12-6", "a4f8f3e"),
    "translation": _task("text2text_generation.TranslationPipeline", "AutoModelForSeq2SeqLM", None, None,
                         by_options={pair: ("google-t5/t5-base", "a9723ea")
                                     for pair in (("en", "fr"), ("en", "de"), ("en", "ro"))}),
    "text2text-generation": _task("text2text_generation.Text2TextGenerationPipeline", "AutoModelForSeq2SeqLM",
                                  "google-t5/t5-base", "a9723ea"),
    "zero-shot-classification": _task(None, "AutoModelForSequenceClassification",
                                      "facebook/bart-large-mnli", "d7645e1"),
    "table-question-answering": _task(None, "AutoModelForTableQuestionAnswering", "google/tapas-base-finetuned-wtq",
                                      "e3dde19"),
    "text-to-audio": _task(None, "AutoModelForTextToWaveform", "suno/bark-small", "1dbd7a1"),
    "image-classification": _task("image_classification.ImageClassificationPipeline",
                                  "AutoModelForImageClassification", "google/vit-base-patch16-224", "3f49326", "image"),
    "image-feature-extraction": _task(None, "AutoModel", "google/vit-base-patch16-224", "3f49326", "image"),
    "image-segmentation": _task("image_segmentation.ImageSegmentationPipeline", SEGMENTATION_AUTO_CLASSES,
                                "facebook/detr-resnet-50-panoptic", "d53b52a", "multimodal"),
    "object-detection": _task("object_detection.ObjectDetectionPipeline", "AutoModelForObjectDetection",
                              "facebook/detr-resnet-50", "1d5f47b", "multimodal"),
    "zero-shot-image-classification": _task(None, "AutoModelForZeroShotImageClassification",
                                            "openai/clip-vit-base-patch32", "3d74acf", "multimodal"),
    "zero-shot-object-detection": _task(None, "AutoModelForZeroShotObjectDetection", "google/owlvit-base-patch32",
                                        "cbc355f", "multimodal"),
    "depth-estimation": _task(None, "AutoModelForDepthEstimation", "Intel/dpt-large", "bc15f29", "image"),
    "mask-generation": _task(None, "AutoModelForMaskGeneration", "facebook/sam-vit-huge", "87aecf0", "multimodal"),
    "video-classification": _task(None, "AutoModelForVideoClassification", "MCG-NJU/videomae-base-finetuned-kinetics",
                                  "488eb9a", "video"),
    "audio-classification": _task("audio_classification.AudioClassificationPipeline",
                                  "AutoModelForAudioClassification", "superb/wav2vec2-base-superb-ks", "372e048",
                                  "audio"),
    "automatic-speech-recognition": _task("automatic_speech_recognition.AutomaticSpeechRecognitionPipeline",
                                          ASR_AUTO_CLASSES, "facebook/wav2vec2-base-960h", "22aad52", "multimodal"),
    "zero-shot-audio-classification": _task(None, "AutoModel", "laion/clap-htsat-fused", "cca9e28", "multimodal"),
    "visual-question-answering": _task("visual_question_answering.VisualQuestionAnsweringPipeline",
                                       "AutoModelForVisualQuestionAnswering", "dandelin/vilt-b32-finetuned-vqa",
                                       "d0a1f6a", "multimodal"),
    "document-question-answering": _task("document_question_answering.DocumentQuestionAnsweringPipeline",
                                         "AutoModelForDocumentQuestionAnswering", "impira/layoutlm-document-qa",
                                         "beed3c4", "multimodal"),
    "image-to-text": _task("image_to_text.ImageToTextPipeline", "AutoModelForVision2Seq", "ydshieh/vit-gpt2-coco-en",
                           "5bebf1e", "multimodal"),
    "image-text-to-text": _task(None, "AutoModelForImageTextToText", "Qwen/Qwen3-VL-2B-Instruct", "8964489",
                                "multimodal"),
}

TASK_ALIASES = {
    "sentiment-analysis": "text-classification",
    "ner": "token-classification",
    "vqa": "visual-question-answering",
    "text-to-speech": "text-to-audio",
}

# config.architectures suffix -> task, to infer the task of a model (most specific first).
ARCHITECTURE_TASKS = (
    # audio and multimodal models whose head names a text task
    ("VisionEncoderDecoderModel", "image-to-text"),
    ("BlipForConditionalGeneration", "image-to-text"),
    ("ViltForQuestionAnswering", "visual-question-answering"),
    ("LayoutLMForQuestionAnswering", "document-question-answering"),
    ("WhisperForConditionalGeneration", "automatic-speech-recognition"),
    ("Wav2Vec2ForSequenceClassification", "audio-classification"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForConditionalGeneration", "text2text-generation"),  # BART, T5 (AutoModelForSeq2SeqLM)
    ("ForImageClassification", "image-classification"),
    ("ForAudioClassification", "audio-classification"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForObjectDetection", "object-detection"),
    ("ForSegmentation", "image-segmentation"),  # DETR's panoptic head
    ("ForSemanticSegmentation", "image-segmentation"),
    ("ForImageSegmentation", "image-segmentation"),
    ("Model", "feature-extraction"),
)

_HUB_KEYS = ("revision", "cache_dir", "token", "local_files_only")


def get_supported_tasks():
    """Every task name and alias ``pipeline`` knows, sorted."""
    return sorted(list(SUPPORTED_TASKS) + list(TASK_ALIASES))


def get_implemented_tasks():
    """The tasks keras_tfm can run (aliases included), sorted."""
    return sorted(t for t in get_supported_tasks() if SUPPORTED_TASKS[TASK_ALIASES.get(t, t)]["impl"])


def check_task(task):
    """Returns ``(task name, its SUPPORTED_TASKS entry)``; raises ValueError for an unknown task.

    ``translation_xx_to_yy`` keeps its name (the pipeline reads the model's settings for it)
    with the entry of ``translation``.
    """
    if not isinstance(task, str):
        raise ValueError(f"task must be a str, got {type(task).__name__}: {task!r:.80}.")
    name = TASK_ALIASES.get(task, task)
    if name in SUPPORTED_TASKS:
        return name, SUPPORTED_TASKS[name]
    if name.startswith("translation"):
        if translation_languages(name) is None:
            raise ValueError(f"Invalid translation task {task!r}, use 'translation_XX_to_YY' format.")
        return name, SUPPORTED_TASKS["translation"]
    raise ValueError(f"Unknown task {task!r}. Available tasks are {get_supported_tasks() + ['translation_XX_to_YY']}.")


def pipeline(task=None, model=None, config=None, tokenizer=None, feature_extractor=None, image_processor=None,
             processor=None, framework=None, revision=None, use_fast=True, token=None, device=None, device_map=None,
             dtype=None, torch_dtype=None, trust_remote_code=None, model_kwargs=None, pipeline_class=None,
             batch_size=None, **kwargs):
    """Builds the pipeline of ``task`` for ``model``, as ``transformers.pipeline`` does.

    What is loaded beside the model follows the task's type (``SUPPORTED_TASKS``): a
    tokenizer for text tasks, an image processor for image tasks, a feature extractor for
    audio tasks, a processor (or the tokenizer and image processor / feature extractor)
    for multimodal ones.

    Args:
        task: a task name or alias (see ``get_supported_tasks()``); None to infer it from
            the model's ``config.architectures``.
        model: a folder, a hub id, or a keras_tfm model; None for the task's default model.
        config: a config or its folder / hub id, for a model loaded by name.
        tokenizer, feature_extractor, image_processor, processor: an instance, or its
            folder / hub id (or ``(name, kwargs)``); by default the model's own, where the
            task uses it.
        revision, token: hub arguments for everything loaded by name (``cache_dir`` and
            ``local_files_only`` too, here or in ``model_kwargs``).
        device, device_map, framework, use_fast: accepted for compatibility; Keras places
            tensors itself and there is only the fast tokenizer.
        dtype / torch_dtype: the model's dtype ("float32", "bfloat16"...).
        batch_size: default batch size of calls.
        **kwargs: task parameters (``top_k``, ``aggregation_strategy``...).
    """
    if kwargs.pop("video_processor", None) is not None:
        logger.warning("pipeline(video_processor=...) is not supported by keras_tfm; ignoring it.")
    if trust_remote_code:
        raise ValueError("trust_remote_code=True is not supported: keras_tfm never runs code from a checkpoint.")
    if task is None and model is None:
        raise ValueError("pipeline() needs a task (e.g. 'sentiment-analysis') or a model to infer it from; "
                         "got neither.")
    model_kwargs = dict(model_kwargs or {})
    hub = _hub_kwargs(revision, token, model_kwargs, kwargs)
    if isinstance(config, (str, os.PathLike)):
        config = auto.AutoConfig.from_pretrained(config, **hub)
    if task is None:
        task = infer_task(model, config, hub)
    name, entry = check_task(task)
    if entry["impl"] is None and pipeline_class is None:
        raise NotImplementedError(
            f"The {task!r} pipeline is not implemented in keras_tfm yet. Implemented tasks: "
            f"{get_implemented_tasks()}."
        )
    cls = pipeline_class or _import(entry["impl"])
    if model is None:
        model, hub["revision"] = default_model(task, entry, hub)
    model_source = model if isinstance(model, (str, os.PathLike)) else None
    if model_source is not None:
        model = load_model(entry["auto"], model_source, config, hub, dtype or torch_dtype, model_kwargs)
    else:
        _check_model_type(model, entry["auto"], name)
    if name == "translation" and default_translation_task(model.config):
        name = default_translation_task(model.config)
        logger.warning('"translation" task was used, instead of "translation_XX_to_YY", defaulting to "%s"', name)
    given = {"tokenizer": tokenizer, "feature_extractor": feature_extractor, "image_processor": image_processor,
             "processor": processor}
    processors = load_processors(entry["type"], cls, given, model, model_source, hub)
    if device is not None or device_map is not None:
        logger.info("device=%r / device_map=%r: Keras places tensors on the backend's device itself.",
                    device, device_map)
    return cls(model=model, **processors, task=name, batch_size=batch_size, device=device, framework=framework,
               **kwargs)


def infer_task(model, config, hub):
    """The task of a model from its class name or ``config.architectures`` (``*ForMaskedLM`` -> fill-mask)."""
    if isinstance(model, (str, os.PathLike)):
        config = config if isinstance(config, PretrainedConfig) else auto.AutoConfig.from_pretrained(model, **hub)
        architectures = list(getattr(config, "architectures", None) or [])
    else:
        architectures = [type(model).__name__]
    for architecture in architectures:
        for suffix, task in ARCHITECTURE_TASKS:
            if architecture.endswith(suffix):
                logger.info("Inferred task %r from the architecture %s.", task, architecture)
                return task
    raise ValueError(
        f"Cannot infer the task of {model!r:.120}: its architectures {architectures} name no known task. "
        f"Pass task=..., one of {get_supported_tasks()}."
    )


def default_model(task, entry, hub):
    """(model id, revision) of the task's default model, checked to be reachable (hub or cache)."""
    model_id, pinned = _default_model_id(task, entry)
    requested = hub.get("revision") or pinned
    logger.warning(
        "No model was supplied, defaulted to %s and revision %s. Using a pipeline without specifying a model "
        "name and revision in production is not recommended.", model_id, requested,
    )
    cached = cached_snapshot(model_id, requested, hub.get("cache_dir"))
    if cached is not None:
        return model_id, cached
    others = {k: v for k, v in hub.items() if k != "revision"}
    try:
        resolve_file(model_id, "config.json", revision=requested, **others)
        return model_id, requested
    except ModelNotFoundError as error:
        if not hub.get("revision") and _reachable(model_id, others):
            logger.warning("Revision %s of %s is not in the cache and cannot be downloaded; using the cached "
                           "default branch instead.", pinned, model_id)
            return model_id, None
        cache = hub.get("cache_dir") or huggingface_hub.constants.HF_HUB_CACHE
        offline = huggingface_hub.constants.HF_HUB_OFFLINE
        raise ModelNotFoundError(
            f"pipeline({task!r}) without model= loads the task's default model {model_id!r} (revision {requested}), "
            f"but it is not in the huggingface_hub cache at {cache} and cannot be downloaded here "
            f"({'HF_HUB_OFFLINE is set' if offline else error}). Download it where the hub is reachable "
            f"(hf download {model_id} --revision {requested}) and copy the cache here, or pass "
            "model=<a local folder>."
        ) from None


def _default_model_id(task, entry):
    defaults = entry["default"]
    if "model" in defaults:
        return defaults["model"]
    languages = translation_languages(task)
    if languages is None:
        raise ValueError(f"The {task!r} task has a default model per language pair: name the pair, as in "
                         f"'translation_en_to_fr' (pairs with a default: {sorted(defaults)}), or pass model=...")
    if languages not in defaults:
        raise ValueError(f"The task {task!r} does not provide any default models for options {languages} "
                         f"(pairs with a default: {sorted(defaults)}); pass model=...")
    return defaults[languages]["model"]


def cached_snapshot(model_id, revision, cache_dir=None):
    """The full commit hash of the cached snapshot a short hash ``revision`` names, or None."""
    if not revision or not re.fullmatch(r"[0-9a-f]{7,40}", revision):
        return None
    root = os.path.join(os.fspath(cache_dir or huggingface_hub.constants.HF_HUB_CACHE),
                        "models--" + model_id.replace("/", "--"), "snapshots")
    try:
        matches = [name for name in os.listdir(root) if name.startswith(revision)]
    except OSError:
        return None
    return matches[0] if len(matches) == 1 else None


def load_model(auto_name, source, config, hub, dtype, model_kwargs):
    """Loads ``source`` (folder or hub id) with the task's Auto class (of several: the first that has
    the model's type)."""
    if not isinstance(auto_name, str):
        if not isinstance(config, PretrainedConfig):
            config = auto.AutoConfig.from_pretrained(source, **{k: v for k, v in hub.items() if v is not None})
        auto_name = next((name for name in auto_name if config.model_type in MODELS.get(name, {})), auto_name[0])
    auto_class = getattr(auto, auto_name, None)
    if auto_class is None:
        raise NotImplementedError(f"keras_tfm has no {auto_name} yet.")
    kwargs = {**model_kwargs, **{k: v for k, v in hub.items() if v is not None}}
    if isinstance(config, PretrainedConfig):
        kwargs["config"] = config
    if dtype is not None:
        kwargs["dtype"] = dtype
    return auto_class.from_pretrained(source, **kwargs)


def _hub_kwargs(revision, token, model_kwargs, kwargs):
    hub = {"revision": revision, "token": token}
    for key in ("cache_dir", "local_files_only"):
        value = kwargs.pop(key, None)
        hub[key] = value if value is not None else model_kwargs.pop(key, None)
    return {k: v for k, v in hub.items() if v is not None or k == "revision"}


def _reachable(model_id, hub):
    try:
        resolve_file(model_id, "config.json", **hub)
        return True
    except ModelNotFoundError:
        return False


def _check_model_type(model, auto_name, task):
    names = (auto_name,) if isinstance(auto_name, str) else auto_name
    supported = [cls for name in names for cls in MODELS.get(name, {}).values()]
    if supported and not isinstance(model, tuple(supported)):
        logger.error("The model %s is not supported for %s. Supported models are %s.", type(model).__name__, task,
                     sorted(cls.__name__ for cls in supported))


def _import(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


NerPipeline = TokenClassificationPipeline

__all__ = [
    "AudioClassificationPipeline",
    "AutomaticSpeechRecognitionPipeline",
    "AGGREGATION_STRATEGIES",
    "DocumentQuestionAnsweringPipeline",
    "FeatureExtractionPipeline",
    "FillMaskPipeline",
    "GenerationPipeline",
    "ImageClassificationPipeline",
    "ImageSegmentationPipeline",
    "ImageToTextPipeline",
    "KeyDataset",
    "NerPipeline",
    "ObjectDetectionPipeline",
    "Padding",
    "Pipeline",
    "QuestionAnsweringPipeline",
    "SummarizationPipeline",
    "SUPPORTED_TASKS",
    "TASK_ALIASES",
    "Text2TextGenerationPipeline",
    "TextClassificationPipeline",
    "TextGenerationPipeline",
    "TokenClassificationPipeline",
    "TranslationPipeline",
    "VisualQuestionAnsweringPipeline",
    "check_task",
    "get_supported_tasks",
    "pipeline",
]
