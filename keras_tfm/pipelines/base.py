"""``Pipeline``: preprocess -> forward -> postprocess, with batching and lazy streaming.

A task pipeline implements three steps:

- ``preprocess(item, **params)``: one input -> one *feature* (a dict), or a list of features
  when ``chunked`` is True (long texts cut into windows). The model inputs of a feature
  (``input_ids``, ``attention_mask``, ``token_type_ids``) are 1-D lists; every other key is
  metadata carried to ``postprocess``.
- ``_forward(batch, **params)``: a padded batch of model inputs -> ``{name: numpy array}``
  with the batch on axis 0 (by default: the model's ``output_keys``).
- ``postprocess(feature, **params)``: a feature with its own outputs added (batch axis
  removed, padding cut from ``token_output_keys``) -> the user's result. Chunked
  pipelines receive the list of features of one input.

The base class feeds features to the model ``batch_size`` at a time, pads each batch to
its longest row, and hands results back in input order: a single input gives a single
result, a list gives a list, and a generator (or any other iterable, such as a dataset)
gives a generator that pulls its inputs one batch at a time.
"""

import collections
import inspect
import logging
import types

import numpy as np

from keras_tfm import backend

logger = logging.getLogger(__name__)

MODEL_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class Pipeline:
    """Base class of the task pipelines; build one with ``keras_tfm.pipeline(task, model=...)``.

    Args:
        model: a keras_tfm ``PreTrainedModel``.
        tokenizer: the model's tokenizer (HF-compatible API).
        task: the task name, for messages.
        batch_size: how many features go through the model at once (default 1).
        device: accepted for Hugging Face compatibility; Keras places tensors itself.
        **kwargs: task parameters (``top_k``, ``aggregation_strategy``...), defaults for
            every call; a call's own keyword arguments override them.
    """

    chunked = False
    output_keys = ("logits",)
    token_output_keys = ()
    # Batches are padded to a multiple of this (masked), so that backends that compile per
    # input shape (JAX, XLA) see few shapes; the padding is cut from the outputs again.
    pad_to_multiple_of = 16

    def __init__(self, model, tokenizer=None, task="", batch_size=None, device=None, framework=None,
                 num_workers=None, **kwargs):
        if tokenizer is None:
            raise ValueError(f"The {task or type(self).__name__} pipeline needs a tokenizer (tokenizer=...).")
        self.model = model
        self.tokenizer = tokenizer
        self.task = task
        self.batch_size = _check_batch_size(batch_size)
        self.device = device
        if device not in (None, -1, "cpu"):
            logger.info("device=%r: keras_tfm leaves placement to the Keras backend (%s).", device, backend.BACKEND)
        self._model_inputs = _accepted_inputs(model)
        self._preprocess_params, self._forward_params, self._postprocess_params = self._sanitize_parameters(**kwargs)

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
        outputs = self.model(**batch)
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
            record.set_output(j, self._unbatch(outputs, i, lengths[i]))

    def _finished(self, pending, postprocess_params):
        while pending and pending[0].done:
            record = pending.popleft()
            outputs = record.outputs if self.chunked else record.outputs[0]
            yield self.postprocess(outputs, **postprocess_params)

    # ---- batching --------------------------------------------------------------------
    def _collate(self, features):
        """Pads the model inputs of ``features`` on the right; returns (batch, true lengths)."""
        names = [name for name in MODEL_INPUT_NAMES if name in features[0] and name in self._model_inputs]
        lengths = [len(f["input_ids"]) for f in features]
        self._check_length(max(lengths))
        width = max(lengths)
        if "attention_mask" in names:  # padding is masked, so it may go past the longest row
            limit = getattr(self.model.config, "max_position_embeddings", None)
            width = _round_up(width, self.pad_to_multiple_of, limit)
        pad_id = self.tokenizer.pad_token_id or 0
        batch = {}
        for name in names:
            rows = np.full((len(features), width), pad_id if name == "input_ids" else 0, dtype="int32")
            for i, f in enumerate(features):
                rows[i, : lengths[i]] = np.asarray(f[name], dtype="int32")
            batch[name] = rows
        return batch, lengths

    def _check_length(self, length):
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit and length > limit:
            raise ValueError(
                f"An input of the {self.task} pipeline is {length} tokens long, but the model takes at most "
                f"{limit}. Pass truncation=True (and max_length=...) to cut it."
            )

    def _unbatch(self, outputs, i, length):
        return {
            key: value[i, :length] if key in self.token_output_keys else value[i]
            for key, value in outputs.items()
        }

    # ---- saving --------------------------------------------------------------------
    def save_pretrained(self, save_directory):
        """Saves the model and the tokenizer to ``save_directory``."""
        self.model.save_pretrained(save_directory)
        self.tokenizer.save_pretrained(save_directory)


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


def _round_up(length, multiple, limit=None):
    if not multiple:
        return length
    rounded = -(-length // multiple) * multiple
    return min(rounded, limit) if limit else rounded


def _check_batch_size(batch_size):
    if batch_size is None:
        return 1
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    return int(batch_size)


def _accepted_inputs(model):
    """The model input names its ``call`` takes (all of MODEL_INPUT_NAMES when it takes **kwargs)."""
    try:
        parameters = inspect.signature(model.call).parameters
    except (AttributeError, TypeError, ValueError):
        return set(MODEL_INPUT_NAMES)
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return set(MODEL_INPUT_NAMES)
    return set(parameters) & set(MODEL_INPUT_NAMES)


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
