"""Batches from a data set: column filtering, label renaming, shuffling and collation.

A ``BatchSource`` holds a data set (a ``datasets.Dataset``, a dict of columns or a list of
examples), keeps the columns a model takes, and gives collated batches; it turns into a
``tf.data.Dataset`` (``prepare_tf_dataset``), a ``keras.utils.PyDataset``, or the loader
of the active backend (``backend.data_loader``).
"""

import inspect
from collections.abc import Mapping

import keras
import numpy as np

from keras_tfm.training.collators import LABEL_RENAMES, DataCollatorWithPadding, DefaultDataCollator

LABEL_NAMES = ("labels", "start_positions", "end_positions", "next_sentence_label")


def model_input_names(model):
    """Argument names of ``model.call`` (inputs and labels)."""
    skip = {"self", "training", "output_hidden_states", "output_attentions", "return_dict", "kwargs", "mask"}
    return [n for n in inspect.signature(model.call).parameters if n not in skip]


def model_label_names(model):
    return [n for n in model_input_names(model) if n in LABEL_NAMES or "label" in n]


def column_names(dataset):
    if hasattr(dataset, "column_names"):
        names = dataset.column_names
        return list(names) if not isinstance(names, Mapping) else list(next(iter(names.values())))
    if isinstance(dataset, Mapping):
        return list(dataset)
    if isinstance(dataset, (list, tuple)) and dataset and isinstance(dataset[0], Mapping):
        return list(dataset[0])
    raise TypeError(
        f"Expected a datasets.Dataset, a dict of columns or a list of example dicts; got {type(dataset).__name__}."
    )


class _Rows:
    """Uniform row access to a datasets.Dataset, a dict of columns or a list of dicts, on chosen columns."""

    def __init__(self, dataset, columns):
        self.columns = columns
        if hasattr(dataset, "select_columns") and hasattr(dataset, "__getitems__"):
            self.kind, self.data = "hf", dataset.select_columns(columns)
        elif hasattr(dataset, "select_columns"):
            self.kind, self.data = "hf", dataset.select_columns(columns)
        elif isinstance(dataset, Mapping):
            self.kind, self.data = "columns", {c: dataset[c] for c in columns}
        else:
            self.kind, self.data = "rows", [{c: row[c] for c in columns} for row in dataset]

    def __len__(self):
        if self.kind == "columns":
            return len(next(iter(self.data.values()))) if self.data else 0
        return len(self.data)

    def take(self, indices):
        indices = [int(i) for i in indices]
        if self.kind == "hf":
            batch = self.data[indices]
            return [{c: batch[c][i] for c in self.columns} for i in range(len(indices))]
        if self.kind == "columns":
            return [{c: self.data[c][i] for c in self.columns} for i in indices]
        return [self.data[i] for i in indices]

    def column(self, name):
        if self.kind == "rows":
            return [row[name] for row in self.data]
        return self.data[name]


class BatchSource:
    """Collated batches of a data set for ``model`` (see the module docstring).

    ``batch(i)`` is ``(inputs, labels)`` (labels a tensor for one label column, a dict for
    several, None for none) or, with ``split=False``, one dict holding both.
    """

    def __init__(self, model, dataset, batch_size=8, shuffle=True, tokenizer=None, collate_fn=None,
                 collate_fn_args=None, drop_remainder=False, seed=0, label_names=None, shard=(0, 1),
                 remove_unused_columns=True):
        if batch_size is None or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.model = model
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_remainder = bool(drop_remainder)
        self.seed = int(seed or 0)
        self.epoch = 0
        self.shard = shard
        accepted = model_input_names(model)
        labels = list(label_names) if label_names else model_label_names(model)
        present = column_names(dataset)
        renamed = {c: LABEL_RENAMES.get(c, c) for c in present}
        if remove_unused_columns:
            keep = [c for c in present if renamed[c] in accepted or renamed[c] in labels]
        else:
            keep = present
        main = getattr(model, "main_input_name", "input_ids")
        if main not in [renamed[c] for c in keep]:
            raise ValueError(
                f"The data set has no {main!r} column (the model's main input); its columns are {present}. "
                f"{type(model).__name__} takes {[a for a in accepted if a not in labels]}. Tokenize the text first, "
                "e.g. ds = ds.map(lambda b: tokenizer(b['text'], truncation=True), batched=True)."
            )
        self.columns = keep
        self.label_names = [n for n in labels if n in renamed.values() and n in [renamed[c] for c in keep]]
        self.rows = _Rows(dataset, keep)
        if len(self.rows) == 0:
            raise ValueError("The data set is empty.")
        if collate_fn is None:
            collate_fn = DataCollatorWithPadding(tokenizer) if tokenizer is not None else DefaultDataCollator()
        self.collate_fn = collate_fn
        self.collate_fn_args = dict(collate_fn_args or {})
        self._check_labels()

    # ---- checks ------------------------------------------------------------------------
    def _check_labels(self):
        model, config = self.model, getattr(self.model, "config", None)
        if config is None or "labels" not in self.label_names:
            return
        name = type(model).__name__
        if "SequenceClassification" in name or "TokenClassification" in name:
            if config.num_labels == 1 or config.problem_type in ("regression", "multi_label_classification"):
                return
            high = config.num_labels
        elif "MaskedLM" in name or "CausalLM" in name or "ForConditionalGeneration" in name:
            high = config.vocab_size
        else:
            return
        column = next(c for c in self.columns if LABEL_RENAMES.get(c, c) == "labels")
        values = self.rows.column(column)
        flat = _flatten_ints(values)
        if flat is None:
            return
        bad = flat[(flat != -100) & ((flat < 0) | (flat >= high))]
        if bad.size:
            raise ValueError(
                f"Column {column!r} has label {int(bad[0])}, out of range for {name} with "
                f"{'num_labels' if high == config.num_labels else 'vocab_size'}={high}: labels must be in "
                f"[0, {high - 1}] (or -100 to ignore). Set num_labels (and id2label) when loading the model."
            )

    # ---- batches ---------------------------------------------------------------------
    def _order(self):
        n = len(self.rows)
        order = np.arange(n)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        rank, world = self.shard
        if world > 1:  # as torch's DistributedSampler: pad to a multiple of world, take every world-th
            order = np.concatenate([order, order[: (-n) % world]])[rank::world]
        return order

    def __len__(self):
        n = len(self.rows)
        rank, world = self.shard
        n = -(-n // world)
        return n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)

    def indices(self, index):
        order = self._order()
        return order[index * self.batch_size:(index + 1) * self.batch_size]

    def batch(self, index, return_tensors="np", split=True):
        if index >= len(self):
            raise IndexError(index)
        examples = self.rows.take(self.indices(index))
        collator = self.collate_fn
        if hasattr(collator, "return_tensors"):
            old, collator.return_tensors = collator.return_tensors, "np"
            try:
                batch = collator(examples, **self.collate_fn_args)
            finally:
                collator.return_tensors = old
        else:
            batch = collator(examples, **self.collate_fn_args)
        batch = {k: _nested(_to_numpy, v) for k, v in dict(batch).items()}
        if return_tensors != "np":
            from keras_tfm.backend.tensors import to_framework_tensor

            batch = {k: _nested(lambda a: to_framework_tensor(a, return_tensors), v) for k, v in batch.items()}
        if not split:
            return batch
        labels = {k: batch.pop(k) for k in self.label_names if k in batch}
        if not labels:
            return batch, None
        return batch, (next(iter(labels.values())) if len(labels) == 1 else labels)

    def on_epoch_end(self):
        self.epoch += 1

    # ---- adapters --------------------------------------------------------------------
    def to_tf_dataset(self, prefetch=True):
        import tensorflow as tf

        def as_tuple(x, y):
            return (x,) if y is None else (x, y)

        structure = as_tuple(*self.batch(0))
        examples = tf.nest.flatten(structure)
        dtypes = [tf.as_dtype(a.dtype) for a in examples]
        names = [path[-1] if path else None for path, _ in keras.tree.flatten_with_path(structure)]
        last = len(self) - 1

        def load(index):
            index = int(index)
            batch = as_tuple(*self.batch(index))
            if index == last:
                self.on_epoch_end()
            return tf.nest.flatten(batch)

        def fetch(index):
            values = tf.py_function(load, [index], dtypes)
            for value, example, name in zip(values, examples, names):
                # Padded per batch: every length may vary; images keep their channel count (convolutions need it).
                value.set_shape((None, example.shape[1], None, None) if name == "pixel_values" and example.ndim == 4
                                else (None,) * example.ndim)
            packed = tf.nest.pack_sequence_as(structure, values)
            return packed[0] if len(packed) == 1 else packed

        # A py_function over batch indices rather than Dataset.from_generator: TF's generator
        # op sets glibc's mmap threshold to 128 KiB for the whole process (a Python 3.11
        # workaround of TF's), after which every large tensor of a training step was mmap-ed
        # and page-faulted in afresh (fit on torch: a step 1.5x slower).
        data = tf.data.Dataset.range(len(self)).map(fetch)
        return data.prefetch(tf.data.AUTOTUNE) if prefetch else data

    def to_py_dataset(self):
        return _PyBatches(self)


class _PyBatches(keras.utils.PyDataset):
    def __init__(self, source):
        super().__init__()
        self.source = source

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        x, y = self.source.batch(index)
        return x if y is None else (x, y)

    def on_epoch_end(self):
        self.source.on_epoch_end()


def _nested(fn, value):
    """``fn`` on each array of ``value``, through lists of dicts (DETR's labels: one dict of arrays per image)."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
        return [{k: fn(v) for k, v in item.items()} for item in value]
    return fn(value)


def _to_numpy(value):
    from keras_tfm import backend

    if backend.is_tensor(value):
        return backend.to_numpy(value)
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        return value.numpy()
    return np.asarray(value)


def _flatten_ints(values):
    try:
        flat = np.concatenate([np.ravel(np.asarray(v)) for v in values]) if len(values) else np.zeros(0)
    except (ValueError, TypeError):
        return None
    return flat.astype(np.int64) if flat.dtype.kind in "iu" else None
