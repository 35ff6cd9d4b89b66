"""``Pipeline``: preprocess -> forward -> postprocess, with batching and lazy streaming.

A task pipeline implements three steps:

- ``preprocess(item, **params)``: one input -> one *feature* (a dict), or a list of features
  when ``chunked`` is True (long texts cut into windows). The keys of a feature that the
  model's ``call`` takes are its model inputs (``input_ids``: a list of ids;
  ``pixel_values``: a (C, H, W) array; ``input_values``: a 1-D waveform); every other key
  is metadata carried to ``postprocess``.
- ``_forward(batch, **params)``: a batch of model inputs (each padded or stacked by the
  rule of its key, ``collate.py``) -> ``{name: numpy array}`` with the batch on axis 0 (by
  default: the ``output_keys`` of the model's compiled forward pass,
  ``keras_tfm.inference.compiled_forward``).
- ``postprocess(feature, **params)``: a feature with its own outputs added (batch axis
  removed, padding cut from ``token_output_keys``) -> the user's result. Chunked
  pipelines receive the list of features of one input.

The base class feeds features to the model ``batch_size`` at a time, pads each batch to
its longest row, and hands results back in input order: a single input gives a single
result, a list gives a list, and a generator (or any other iterable, such as a dataset)
gives a generator that pulls its inputs one batch at a time.

A pipeline holds the processors its ``preprocess`` uses: ``tokenizer``,
``image_processor``, ``feature_extractor``, or a ``processor`` that holds them. The class
says which it needs with Hugging Face's flags ``_load_tokenizer``,
``_load_image_processor``, ``_load_feature_extractor``, ``_load_processor`` (True: needed,
None: used when given, False: not used).
"""

import collections
import inspect
import logging
import types

import numpy as np

from keras_tfm import backend
from keras_tfm.pipelines.collate import KNOWN_INPUTS, collate, padding_rules
from keras_tfm.utils.io import saves_a_folder

logger = logging.getLogger(__name__)

PROCESSOR_NAMES = ("tokenizer", "image_processor", "feature_extractor", "processor")
# What a text tokenizer can return for a model; its `model_input_names` says which of them the model takes.
TOKENIZER_OUTPUTS = ("input_ids", "token_type_ids", "attention_mask")


class Pipeline:
    """Base class of the task pipelines; build one with ``keras_tfm.pipeline(task, model=...)``.

    Args:
        model: a keras_tfm ``PreTrainedModel``.
        tokenizer: the model's tokenizer (HF-compatible API).
        feature_extractor: the model's feature extractor (audio).
        image_processor: the model's image processor.
        processor: a processor holding several of them (``processor.tokenizer``...); the
            ones not given are taken from it.
        task: the task name, for messages.
        batch_size: how many features go through the model at once (default 1).
        device: accepted for Hugging Face compatibility; Keras places tensors itself.
        **kwargs: task parameters (``top_k``, ``aggregation_strategy``...), defaults for
            every call; a call's own keyword arguments override them.
    """

    chunked = False
    output_keys = ("logits",)
    token_output_keys = ()
    # A batch of one is padded to a multiple of this (masked; a batch of n rows: of this / n, so that the
    # rounding adds fewer than this many positions per batch), so that the model, compiled per input
    # shape, sees few shapes; the padding is cut from the outputs again.
    pad_to_multiple_of = 16
    padding_side = "right"
    # Which processors preprocess uses (Hugging Face's flags): True needed, None used when given, False not used.
    _load_tokenizer = None
    _load_image_processor = None
    _load_feature_extractor = None
    _load_processor = None

    def __init__(self, model, tokenizer=None, feature_extractor=None, image_processor=None, processor=None, task="",
                 batch_size=None, device=None, framework=None, num_workers=None, **kwargs):
        self.model = model
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.image_processor = image_processor
        self.processor = processor
        self.task = task
        if processor is not None:  # the parts not given come from the processor
            for name in ("tokenizer", "feature_extractor", "image_processor"):
                if getattr(self, name) is None:
                    setattr(self, name, getattr(processor, name, None))
        self._check_processors()
        self.batch_size = _check_batch_size(batch_size)
        self.device = device
        if device not in (None, -1, "cpu"):
            logger.info("device=%r: keras_tfm leaves placement to the Keras backend (%s).", device, backend.BACKEND)
        self._compiled = None
        self._inputs_of = (None, ())  # (model, the input names its call takes)
        self._preprocess_params, self._forward_params, self._postprocess_params = self._sanitize_parameters(**kwargs)

    def _check_processors(self):
        for name in PROCESSOR_NAMES:
            if getattr(self, f"_load_{name}") and getattr(self, name) is None:
                raise ValueError(
                    f"The {self.task or type(self).__name__} pipeline needs a {name.replace('_', ' ')} "
                    f"({name}=...): its preprocessing uses one."
                )

    @property
    def padding_rules(self):
        """``{model input name: collate.Padding}``: token ids padded with the tokenizer's pad id, raw audio
        with the feature extractor's ``padding_value``, masks with 0, pixel values stacked."""
        return padding_rules(getattr(self.tokenizer, "pad_token_id", None),
                             getattr(self.feature_extractor, "padding_value", None))

    @property
    def compiled_forward(self):
        """The model's forward pass compiled per input shape (``keras_tfm.inference.compiled_forward``)."""
        if self._compiled is None or self._compiled.model is not self.model:
            from keras_tfm.inference import compiled_forward

            self._compiled = compiled_forward(self.model)
        return self._compiled

    @property
    def model_input_names(self):
        """The keys of a feature that go to the model: those its ``call`` takes, less the tokenizer
        outputs that the tokenizer does not list as model inputs (``token_type_ids`` of
        DistilBERT's tokenizer: the model has no segment embeddings), as transformers filters them."""
        if self._inputs_of[0] is not self.model:
            accepted = _accepted_inputs(self.model)
            listed = getattr(self.tokenizer, "model_input_names", None)
            if listed:
                accepted -= set(TOKENIZER_OUTPUTS) - set(listed)
            self._inputs_of = (self.model, accepted)
        return self._inputs_of[1]

    def __repr__(self):
        model = type(self.model).__name__
        return f"{type(self).__name__}(task={self.task!r}, model={model}, batch_size={self.batch_size})"

    # ---- the three steps (subclasses) ------------------------------------------------
    def _sanitize_parameters(self, **kwargs):
        """Splits call keyword arguments into (preprocess, forward, postprocess) params."""
        if kwargs:
            raise TypeError(f"The {self.task} pipeline got unexpected arguments: {sorted(kwargs)}.")
        return {}, {}, {}

    def preprocess(self, inputs, **params):
        raise NotImplementedError

    def _forward(self, batch, **params):
        """Runs the model on a padded batch; returns ``{key: numpy array}`` for ``output_keys``."""
        outputs = self.compiled_forward(**batch)
        return {key: to_float_numpy(outputs[key]) for key in self.output_keys if key in outputs}

    def postprocess(self, outputs, **params):
        raise NotImplementedError

    # ---- calling -------------------------------------------------------------------
    def __call__(self, inputs, *args, batch_size=None, num_workers=None, **kwargs):
        """Runs the pipeline: one input -> one result, a list -> a list, a generator -> a generator."""
        if args:
            logger.warning("Ignoring extra positional arguments: %s", args)
        pre, fwd, post = self._sanitize_parameters(**kwargs)
        params = (
            {**self._preprocess_params, **pre},
            {**self._forward_params, **fwd},
            {**self._postprocess_params, **post},
        )
        batch_size = _check_batch_size(batch_size) if batch_size is not None else self.batch_size
        if isinstance(inputs, (list, tuple)):
            return list(self._iterate(inputs, batch_size, *params))
        if _is_stream(inputs):
            return self._iterate(inputs, batch_size, *params)
        return next(self._iterate([inputs], 1, *params))

    def run_single(self, inputs, preprocess_params, forward_params, postprocess_params):
        """One input through the three steps (HF's name for it)."""
        return next(self._iterate([inputs], 1, preprocess_params, forward_params, postprocess_params))

    def _iterate(self, items, batch_size, preprocess_params, forward_params, postprocess_params):
        """Yields one result per item, pulling items only as far as the next full batch needs."""
        pending = collections.deque()  # items in input order, waiting for their features' outputs
        queue = []  # (item record, feature index) not yet run
        for item in items:
            record = self._record(item, preprocess_params)
            pending.append(record)
            queue.extend((record, j) for j in range(len(record.features)))
            while len(queue) >= batch_size:
                self._run_batch(queue[:batch_size], forward_params)
                del queue[:batch_size]
            yield from self._finished(pending, postprocess_params)
        while queue:
            self._run_batch(queue[:batch_size], forward_params)
            del queue[:batch_size]
        yield from self._finished(pending, postprocess_params)

    def _record(self, item, preprocess_params):
        features = self.preprocess(item, **preprocess_params)
        if not self.chunked:
            features = [features]
        return _Record(list(features))

    def _run_batch(self, entries, forward_params):
        features = [record.features[j] for record, j in entries]
        batch, lengths = self._collate(features)
        with backend.inference_mode():
            outputs = self._forward(batch, **forward_params)
        for i, (record, j) in enumerate(entries):
            record.set_output(j, self._unbatch(outputs, i, None if lengths is None else lengths[i]))

    def _finished(self, pending, postprocess_params):
        while pending and pending[0].done:
            record = pending.popleft()
            outputs = record.outputs if self.chunked else record.outputs[0]
            yield self.postprocess(outputs, **postprocess_params)

    # ---- batching --------------------------------------------------------------------
    def _collate(self, features):
        """Pads or stacks each model input of ``features`` by its key; returns (batch, true token lengths or None)."""
        accepted = self.model_input_names
        names = [name for name in features[0] if name in accepted]
        if not names:
            raise ValueError(
                f"The {self.task or type(self).__name__} pipeline's features hold no input of "
                f"{type(self.model).__name__} (its call takes {sorted(accepted)}; the features have "
                f"{sorted(features[0])})."
            )
        lengths = [len(f["input_ids"]) for f in features] if "input_ids" in names else None
        if lengths:
            self._check_length(max(lengths))
        batch = collate(features, names, self.padding_rules, pad_to_multiple_of=self.pad_to_multiple_of,
                        max_length=self._max_positions(), padding_side=self.padding_side)
        return batch, lengths

    def _max_positions(self):
        return getattr(getattr(self.model, "config", None), "max_position_embeddings", None)

    def _check_length(self, length):
        limit = self._max_positions()
        if limit and length > limit:
            raise ValueError(
                f"An input of the {self.task} pipeline is {length} tokens long, but the model takes at most "
                f"{limit} positions (max_position_embeddings). Pass truncation=True (and max_length=...) to cut it."
            )

    def _unbatch(self, outputs, i, length):
        return {
            key: value[i, :length] if key in self.token_output_keys else value[i]
            for key, value in outputs.items()
        }

    # ---- saving --------------------------------------------------------------------
    @saves_a_folder
    def save_pretrained(self, save_directory):
        """Saves the model and its processors (tokenizer, image processor...) to ``save_directory``."""
        self.model.save_pretrained(save_directory)
        parts = [self.processor] if self.processor is not None else \
            [self.tokenizer, self.image_processor, self.feature_extractor]
        for part in parts:
            if part is not None:
                part.save_pretrained(save_directory)


class _Record:
    """The features of one input and their outputs as batches complete."""

    def __init__(self, features):
        self.features = features
        self.outputs = [None] * len(features)
        self.remaining = len(features)

    @property
    def done(self):
        return self.remaining == 0

    def set_output(self, j, output):
        self.outputs[j] = {**self.features[j], **output}
        self.remaining -= 1


class KeyDataset:
    """A view of one column of a dataset (``KeyDataset(dataset, "text")``), to stream into a pipeline."""

    def __init__(self, dataset, key):
        self.dataset = dataset
        self.key = key

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i][self.key]

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _is_stream(inputs):
    """Generators, iterators and datasets: everything iterable but a str, dict, list or array."""
    if isinstance(inputs, types.GeneratorType):
        return True
    if isinstance(inputs, (str, bytes, dict, np.ndarray)) or backend.is_tensor(inputs):
        return False
    return hasattr(inputs, "__iter__") or (hasattr(inputs, "__len__") and hasattr(inputs, "__getitem__"))


def _check_batch_size(batch_size):
    if batch_size is None:
        return 1
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    return int(batch_size)


def _accepted_inputs(model):
    """The input names ``model.call`` takes (with ``**kwargs``: also every known input name)."""
    try:
        parameters = inspect.signature(model.call).parameters
    except (AttributeError, TypeError, ValueError):
        return set(KNOWN_INPUTS)
    names = {name for name, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        names |= set(KNOWN_INPUTS)
    return names - {"training"}


def to_float_numpy(tensor):
    array = np.asarray(backend.to_numpy(tensor))
    return array.astype("float32") if array.dtype.kind == "f" and array.dtype != np.float64 else array


def softmax(x, axis=-1):
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def check_text(task, text, what="a str"):
    """Raises a ValueError naming the task when ``text`` is not a str."""
    if not isinstance(text, str):
        raise ValueError(
            f"The {task} pipeline takes {what} (or a list of them); got {type(text).__name__}: {text!r:.80}."
        )
    return text
