"""The processors ``pipeline()`` loads beside the model, chosen by the type of the task.

Each task of ``SUPPORTED_TASKS`` has a type: a text task needs a tokenizer, an image task
an image processor, an audio task a feature extractor, and a multimodal task a processor
(or, where the model has none, the tokenizer and image processor / feature extractor it
has). A pipeline class may add to that (``_load_tokenizer = True``) or take away from it
(``_load_tokenizer = False``), with Hugging Face's flags.

Each processor is the one given (an instance, a folder or hub id, or ``(name, kwargs)``),
or else loaded from the model's own folder.
"""

import os

from keras_tfm.processing import AutoFeatureExtractor, AutoImageProcessor, AutoProcessor, AutoTokenizer

PROCESSOR_AUTO_CLASSES = {
    "tokenizer": AutoTokenizer,
    "image_processor": AutoImageProcessor,
    "feature_extractor": AutoFeatureExtractor,
    "processor": AutoProcessor,
}
PROCESSORS_BY_TYPE = {
    "text": ("tokenizer",),
    "image": ("image_processor",),
    "video": ("image_processor",),
    "audio": ("feature_extractor",),
    "multimodal": ("processor",),
}
# A multimodal model without a processor: what it has of these.
MULTIMODAL_PARTS = ("tokenizer", "image_processor", "feature_extractor")


def needed_processors(task_type, pipeline_class):
    """The processor names (keys of PROCESSOR_AUTO_CLASSES) to load for a task of ``task_type``."""
    if task_type not in PROCESSORS_BY_TYPE:
        raise ValueError(f"Unknown task type {task_type!r}; expected one of {sorted(PROCESSORS_BY_TYPE)}.")
    needed = list(PROCESSORS_BY_TYPE[task_type])
    for name in PROCESSOR_AUTO_CLASSES:
        flag = getattr(pipeline_class, f"_load_{name}", None)
        if flag is True and name not in needed:
            needed.append(name)
        elif flag is False and name in needed:
            needed.remove(name)
    return needed


def load_processors(task_type, pipeline_class, given, model, model_source, hub):
    """The processors of a pipeline: ``{name: instance or None}`` for every name of PROCESSOR_AUTO_CLASSES.

    Args:
        task_type: the task's ``type`` in ``SUPPORTED_TASKS`` ("text", "image", "audio"...).
        pipeline_class: the pipeline class (its ``_load_*`` flags adjust what is needed).
        given: ``{name: instance, folder / hub id, (name, kwargs) or None}`` from the caller.
        model: the model instance.
        model_source: the folder or hub id the model came from (None for an instance).
        hub: hub arguments (revision, token, cache_dir...).
    """
    hub = {k: v for k, v in hub.items() if v is not None}
    loaded = {name: _load_given(name, value, hub) for name, value in given.items() if value is not None}
    for part in MULTIMODAL_PARTS:  # the parts a given processor holds
        if part not in loaded and getattr(loaded.get("processor"), part, None) is not None:
            loaded[part] = getattr(loaded["processor"], part)
    needed = [name for name in needed_processors(task_type, pipeline_class) if name not in loaded]
    if not needed:
        return {name: loaded.get(name) for name in PROCESSOR_AUTO_CLASSES}
    source = model_source or getattr(model, "name_or_path", None)
    if not source:
        raise ValueError(
            f"pipeline(model=<{type(model).__name__} instance>) needs {' and '.join(f'{n}=...' for n in needed)}: "
            "the model has no name_or_path to load it from (it was not made by from_pretrained). Pass the "
            f"{needed[0].replace('_', ' ')} or its folder."
        )
    for name in needed:
        if name == "processor" and not any(part in loaded for part in MULTIMODAL_PARTS):
            loaded.update(_processor_or_parts(source, hub))
        elif name != "processor":
            loaded[name] = PROCESSOR_AUTO_CLASSES[name].from_pretrained(source, **hub)
    return {name: loaded.get(name) for name in PROCESSOR_AUTO_CLASSES}


def _load_given(name, value, hub):
    if isinstance(value, tuple):  # (name, kwargs), as transformers accepts
        source, options = value
        return PROCESSOR_AUTO_CLASSES[name].from_pretrained(source, **{**hub, **options})
    if isinstance(value, (str, os.PathLike)):
        return PROCESSOR_AUTO_CLASSES[name].from_pretrained(value, **hub)
    return value


def _processor_or_parts(source, hub):
    """The model's processor; where it has none, the tokenizer / image processor / feature extractor it has."""
    try:
        return {"processor": PROCESSOR_AUTO_CLASSES["processor"].from_pretrained(source, **hub)}
    except (OSError, ValueError, KeyError, NotImplementedError) as error:
        processor_error = error
    parts = {}
    for name in MULTIMODAL_PARTS:
        try:
            parts[name] = PROCESSOR_AUTO_CLASSES[name].from_pretrained(source, **hub)
        except (OSError, ValueError, KeyError, NotImplementedError):
            continue
    if not parts:
        raise ValueError(
            f"Cannot load a processor for {source!r} ({processor_error}), nor a tokenizer, image processor or "
            "feature extractor. Pass processor=... (or tokenizer= and image_processor= / feature_extractor=)."
        )
    return parts

