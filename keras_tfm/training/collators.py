"""Data collators: turn a list of examples into one padded batch, as ``transformers`` does.

Each collator takes a list of feature dicts (what indexing a ``datasets.Dataset`` gives)
and returns a dict of tensors. ``return_tensors`` is "pt", "tf", "jax" or "np"; the
default (None) is the tensor type of the active Keras backend.

The speech collators (``DataCollatorCTCWithPadding``, ``DataCollatorSpeechSeq2SeqWithPadding``) are
those of HF's speech-recognition examples and docs (not part of its library), with the same names.

Label columns are renamed as Hugging Face does: ``label`` and ``label_ids`` become
``labels``.
"""

from collections.abc import Mapping

import numpy as np

from keras_tfm.backend.tensors import FRAMEWORKS, to_framework_tensor

PADDED_KEYS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask")
LABEL_RENAMES = {"label": "labels", "label_ids": "labels"}


def native_framework():
    """The ``return_tensors`` name of the active Keras backend ("pt", "tf" or "jax")."""
    from keras_tfm.backend import training

    return training.RETURN_TENSORS


def _check_framework(return_tensors):
    if return_tensors is None:
        return native_framework()
    if return_tensors not in FRAMEWORKS:
        raise ValueError(f"return_tensors={return_tensors!r} is not supported; use one of {FRAMEWORKS} or None.")
    return return_tensors


def _to_python(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "numpy"):
        return value.numpy().tolist()
    return value


def _as_features(features):
    if isinstance(features, Mapping):  # a dict of lists (a batch from a datasets.Dataset)
        keys = list(features)
        n = len(features[keys[0]]) if keys else 0
        return [{k: features[k][i] for k in keys} for i in range(n)]
    features = list(features)
    if features and not isinstance(features[0], Mapping):
        raise TypeError(f"A collator takes a list of dicts (examples); got a list of {type(features[0]).__name__}.")
    return features


def _stack(key, values):
    """A numpy array from a column, with the dtypes HF uses (int64 ids and labels, float32 floats)."""
    values = [_to_python(v) for v in values]
    try:
        array = np.asarray(values)
    except ValueError:
        array = np.asarray(values, dtype=object)
    if array.dtype == object:
        lengths = sorted({len(v) for v in values if isinstance(v, (list, tuple))})
        raise ValueError(
            f"Cannot make a batch of {key!r}: its rows have different lengths ({lengths}). Use a padding "
            "collator (DataCollatorWithPadding) or pad when tokenizing."
        )
    if array.dtype.kind in "iub":
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    return array


def _convert(batch, return_tensors):
    return {key: to_framework_tensor(value, return_tensors) for key, value in batch.items()}


def _rename_labels(example):
    out = {}
    for key, value in example.items():
        out[LABEL_RENAMES.get(key, key) if value is not None else key] = value
    return out


def _split(features, keep):
    """(padded part, other part) of each example, with label columns renamed."""
    padded, others = [], []
    for example in features:
        example = _rename_labels(dict(example))
        padded.append({k: v for k, v in example.items() if k in keep})
        others.append({k: v for k, v in example.items() if k not in keep})
    return padded, others


def _pad_rows(tokenizer, rows, padding, max_length, pad_to_multiple_of):
    batch = tokenizer.pad(rows, padding=padding, max_length=max_length, pad_to_multiple_of=pad_to_multiple_of,
                          return_tensors="np")
    return {key: np.asarray(value).astype(np.int64) for key, value in batch.items()}


def _drop_unusable(others):
    """Columns that cannot become tensors (raw text...) are dropped, as HF's remove_unused_columns does."""
    keys = [k for k in (others[0] if others else {}) if not isinstance(others[0][k], str) and others[0][k] is not None]
    return {k: _stack(k, [o[k] for o in others]) for k in keys}


def default_data_collator(features, return_tensors=None):
    """Stacks already padded examples into a batch; ``label``/``label_ids`` become ``labels``."""
    return_tensors = _check_framework(return_tensors)
    features = _as_features(features)
    if not features:
        raise ValueError("default_data_collator got an empty list of examples.")
    _, others = _split(features, keep=())
    return _convert(_drop_unusable(others), return_tensors)


class DefaultDataCollator:
    def __init__(self, return_tensors=None):
        self.return_tensors = return_tensors

    def __call__(self, features, return_tensors=None):
        return default_data_collator(features, return_tensors or self.return_tensors)


class DataCollatorWithPadding:
    """Pads ``input_ids`` / ``attention_mask`` / ``token_type_ids`` to the longest example of the batch."""

    def __init__(self, tokenizer, padding=True, max_length=None, pad_to_multiple_of=None, return_tensors=None):
        self.tokenizer = tokenizer
        self.padding = padding
        self.max_length = max_length
        self.pad_to_multiple_of = pad_to_multiple_of
        self.return_tensors = return_tensors

    def __call__(self, features):
        return_tensors = _check_framework(self.return_tensors)
        features = _as_features(features)
        padded, others = _split(features, keep=PADDED_KEYS)
        if not padded or "input_ids" not in padded[0]:
            raise ValueError(
                f"{type(self).__name__} needs tokenized examples with 'input_ids'; got columns "
                f"{sorted(features[0]) if features else []}. Tokenize first: ds.map(lambda b: tok(b['text']), batched=True)."
            )
        batch = _pad_rows(self.tokenizer, padded, self.padding, self.max_length, self.pad_to_multiple_of)
        batch.update(_drop_unusable(others))
        return _convert(batch, return_tensors)


class DataCollatorForTokenClassification(DataCollatorWithPadding):
    """Pads inputs and the per-token ``labels`` (with ``label_pad_token_id``, -100 by default)."""

    def __init__(self, tokenizer, padding=True, max_length=None, pad_to_multiple_of=None, label_pad_token_id=-100,
                 return_tensors=None):
        super().__init__(tokenizer, padding, max_length, pad_to_multiple_of, return_tensors)
        self.label_pad_token_id = label_pad_token_id

    def __call__(self, features):
        return_tensors = _check_framework(self.return_tensors)
        features = _as_features(features)
        padded, others = _split(features, keep=PADDED_KEYS)
        labels = [o.pop("labels") for o in others] if others and "labels" in others[0] else None
        batch = _pad_rows(self.tokenizer, padded, self.padding, self.max_length, self.pad_to_multiple_of)
        batch.update(_drop_unusable(others))
        if labels is not None:
            length = batch["input_ids"].shape[1]
            side = getattr(self.tokenizer, "padding_side", "right")
            rows = []
            for row in labels:
                row = list(_to_python(row))[:length]
                pad = [self.label_pad_token_id] * (length - len(row))
                rows.append(row + pad if side == "right" else pad + row)
            batch["labels"] = np.asarray(rows, dtype=np.int64)
        return _convert(batch, return_tensors)


class DataCollatorForLanguageModeling(DataCollatorWithPadding):
    """Masked (``mlm=True``) or causal (``mlm=False``) language-modelling batches.

    MLM: ``mlm_probability`` of the non-special tokens are chosen; of those,
    ``mask_replace_prob`` become the mask token, ``random_replace_prob`` a random token,
    the rest stay; ``labels`` is -100 everywhere else. Causal: ``labels`` is a copy of
    ``input_ids`` with padding set to -100 (the model shifts them).
    """

    def __init__(self, tokenizer, mlm=True, mlm_probability=0.15, mask_replace_prob=0.8, random_replace_prob=0.1,
                 pad_to_multiple_of=None, return_tensors=None, seed=None):
        super().__init__(tokenizer, pad_to_multiple_of=pad_to_multiple_of, return_tensors=return_tensors)
        if mlm and getattr(tokenizer, "mask_token_id", None) is None:
            raise ValueError("mlm=True needs a tokenizer with a mask token; use mlm=False for causal language modelling.")
        if mask_replace_prob + random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must be <= 1.")
        self.mlm = mlm
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, features):
        return_tensors = _check_framework(self.return_tensors)
        features = _as_features(features)
        padded, others = _split(features, keep=PADDED_KEYS)
        batch = _pad_rows(self.tokenizer, padded, True, None, self.pad_to_multiple_of)
        batch.update({k: v for k, v in _drop_unusable(others).items() if k != "labels"})
        special = batch.pop("special_tokens_mask", None)
        ids = batch["input_ids"]
        pad_id = self.tokenizer.pad_token_id
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.mask_tokens(ids, special)
        else:
            labels = ids.copy()
            if pad_id is not None:
                if "attention_mask" in batch:
                    labels[batch["attention_mask"] == 0] = -100
                else:
                    labels[labels == pad_id] = -100
            batch["labels"] = labels
        return _convert(batch, return_tensors)

    def mask_tokens(self, ids, special_tokens_mask=None):
        ids = ids.copy()
        labels = ids.copy()
        if special_tokens_mask is None:
            special_ids = set(self.tokenizer.all_special_ids)
            special_tokens_mask = np.isin(ids, list(special_ids))
        special_tokens_mask = np.asarray(special_tokens_mask, dtype=bool)
        probability = np.where(special_tokens_mask, 0.0, self.mlm_probability)
        masked = self.rng.random(ids.shape) < probability
        labels[~masked] = -100
        replaced = masked & (self.rng.random(ids.shape) < self.mask_replace_prob)
        ids[replaced] = self.tokenizer.mask_token_id
        rest = 1.0 - self.mask_replace_prob
        random_share = self.random_replace_prob / rest if rest > 0 else 0.0
        randomized = masked & ~replaced & (self.rng.random(ids.shape) < random_share)
        ids[randomized] = self.rng.integers(0, len(self.tokenizer), size=ids.shape)[randomized]
        return ids, labels


class DataCollatorForSeq2Seq:
    """Pads the inputs and the target ``labels`` of sequence-to-sequence examples, as HF does.

    Inputs are padded by the tokenizer; ``labels`` are padded with ``label_pad_token_id``
    (-100: ignored by the loss) on the tokenizer's ``padding_side``, to the longest label of
    the batch (or ``max_length`` with ``padding="max_length"``), rounded up to
    ``pad_to_multiple_of``. When ``model`` has ``prepare_decoder_input_ids_from_labels``,
    the batch also gets ``decoder_input_ids`` (the labels shifted right).

    Args:
        tokenizer: the tokenizer that made the examples (its ``pad`` pads the inputs).
        model: the model trained, optional; see above.
        padding: True / "longest", "max_length" or False / "do_not_pad".
        max_length: the padded length with ``padding="max_length"``.
        pad_to_multiple_of: pad lengths up to a multiple of this.
        label_pad_token_id: the value padded labels get.
        return_tensors: "pt", "tf", "jax", "np", or None for the active backend's tensors.
    """

    def __init__(self, tokenizer, model=None, padding=True, max_length=None, pad_to_multiple_of=None,
                 label_pad_token_id=-100, return_tensors=None):
        self.tokenizer = tokenizer
        self.model = model
        self.padding = padding
        self.max_length = max_length
        self.pad_to_multiple_of = pad_to_multiple_of
        self.label_pad_token_id = label_pad_token_id
        self.return_tensors = return_tensors

    def __call__(self, features, return_tensors=None):
        return_tensors = _check_framework(return_tensors or self.return_tensors)
        features = _as_features(features)
        if not features:
            raise ValueError("DataCollatorForSeq2Seq got an empty list of examples.")
        padded, others = _split(features, keep=PADDED_KEYS)
        labels = [o.pop("labels") for o in others] if "labels" in others[0] else None
        if labels is not None and all(row is None for row in labels):
            labels = None
        if "input_ids" not in padded[0]:
            raise ValueError(
                f"DataCollatorForSeq2Seq needs tokenized examples with 'input_ids'; got columns {sorted(features[0])}. "
                "Tokenize first: tokenizer(text, text_target=target)."
            )
        if labels is not None and any(row is None for row in labels):
            raise ValueError("DataCollatorForSeq2Seq: some examples have labels and some have None.")
        batch = _pad_rows(self.tokenizer, padded, self.padding, self.max_length, self.pad_to_multiple_of)
        batch.update(_drop_unusable(others))
        if labels is not None:
            batch["labels"] = self._pad_labels([list(_to_python(row)) for row in labels])
            prepare = getattr(self.model, "prepare_decoder_input_ids_from_labels", None)
            if prepare is not None:
                batch["decoder_input_ids"] = _stack("decoder_input_ids", _to_numpy(prepare(labels=batch["labels"])))
        return _convert(batch, return_tensors)

    def _pad_labels(self, rows):
        if self.padding is False or self.padding == "do_not_pad":
            return _stack("labels", rows)  # equal lengths or a clear error
        if self.padding == "max_length" and self.max_length is not None:
            length = self.max_length
        else:
            length = max(len(row) for row in rows)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        longest = max(len(row) for row in rows)
        if longest > length:
            raise ValueError(f"DataCollatorForSeq2Seq: a label has {longest} tokens, more than max_length={length}; "
                             "truncate the targets when tokenizing (truncation=True, max_length=...).")
        side = getattr(self.tokenizer, "padding_side", "right")
        out = []
        for row in rows:
            pad = [self.label_pad_token_id] * (length - len(row))
            out.append(row + pad if side == "right" else pad + row)
        return np.asarray(out, dtype=np.int64)


def _to_numpy(value):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


# ---- speech: the collators of HF's speech-recognition examples and docs ---------------------------------
def _components(processor, owner):
    """(feature extractor, tokenizer) of a processor; a clear error when one is missing."""
    extractor = getattr(processor, "feature_extractor", None)
    tokenizer = getattr(processor, "tokenizer", None)
    if extractor is None or tokenizer is None or not hasattr(extractor, "pad") or not hasattr(tokenizer, "pad"):
        raise TypeError(
            f"{owner} takes a processor with a feature_extractor and a tokenizer (e.g. "
            f"AutoProcessor.from_pretrained(...)); got {type(processor).__name__}."
        )
    return extractor, tokenizer


def _audio_rows(features, key, owner):
    """Each example's ``key`` feature as a numpy array; a leading batch axis of 1 (what a processor called on one
    clip returns, and HF's docs index away with ``[0]``) is dropped."""
    rows = []
    for i, example in enumerate(features):
        if key not in example:
            raise ValueError(f"{owner}: example {i} has no {key!r} (its columns: {sorted(example)}). Run the "
                             "processor over the audio first, e.g. ds.map(lambda r: processor(r['audio']['array'], "
                             "sampling_rate=r['audio']['sampling_rate'])).")
        value = np.asarray(_to_python(example[key]), dtype=np.float32)
        rows.append(value[0] if value.ndim >= 2 and value.shape[0] == 1 else value)
    return rows


def _padded_labels(tokenizer, features, padding, pad_to_multiple_of, owner):
    """The ``labels`` of the examples padded by the tokenizer, -100 where it padded (ignored by the losses)."""
    rows = []
    for i, example in enumerate(_rename_labels(dict(f)) for f in features):
        if example.get("labels") is None:
            raise ValueError(f"{owner}: example {i} has no 'labels'; tokenize the transcriptions first, e.g. "
                             "processor(text=transcription).input_ids.")
        rows.append({"input_ids": [int(t) for t in np.ravel(np.asarray(_to_python(example["labels"])))]})
    batch = tokenizer.pad(rows, padding=padding, pad_to_multiple_of=pad_to_multiple_of, return_attention_mask=True,
                          return_tensors="np")
    ids = np.asarray(batch["input_ids"]).astype(np.int64)
    return np.where(np.asarray(batch["attention_mask"]) == 1, ids, -100)


class DataCollatorCTCWithPadding:
    """Pads speech examples and their character labels for CTC training, as HF's speech-recognition docs do.

    The audio input (``input_values``, the feature extractor's main input) is padded by the
    feature extractor (with its ``attention_mask`` when it returns one); ``labels`` are padded by
    the tokenizer and set to -100 where it padded, so the CTC loss ignores them.

    Args:
        processor: a processor with ``feature_extractor`` and ``tokenizer`` (e.g. ``Wav2Vec2Processor``).
        padding: True / "longest", "max_length" or False, for inputs and labels.
        pad_to_multiple_of: round the inputs' padded length up to a multiple of this.
        pad_to_multiple_of_labels: the same for the labels.
        feature_extractor_input_name: the input feature to pad (default: the extractor's main input).
        return_tensors: "pt", "tf", "jax", "np", or None for the active backend's tensors.
    """

    def __init__(self, processor, padding=True, pad_to_multiple_of=None, pad_to_multiple_of_labels=None,
                 feature_extractor_input_name=None, return_tensors=None):
        self.processor = processor
        self.feature_extractor, self.tokenizer = _components(processor, type(self).__name__)
        self.padding = padding
        self.pad_to_multiple_of = pad_to_multiple_of
        self.pad_to_multiple_of_labels = pad_to_multiple_of_labels
        self.feature_extractor_input_name = (feature_extractor_input_name
                                             or self.feature_extractor.model_input_names[0])
        self.return_tensors = return_tensors

    def __call__(self, features, return_tensors=None):
        return_tensors = _check_framework(return_tensors or self.return_tensors)
        features = _as_features(features)
        if not features:
            raise ValueError(f"{type(self).__name__} got an empty list of examples.")
        owner, key = type(self).__name__, self.feature_extractor_input_name
        inputs = [{key: row} for row in _audio_rows(features, key, owner)]
        padded = self.feature_extractor.pad(inputs, padding=self.padding, pad_to_multiple_of=self.pad_to_multiple_of,
                                            return_tensors="np")
        batch = {key: np.asarray(padded[key], dtype=np.float32)}
        if "attention_mask" in padded:
            batch["attention_mask"] = np.asarray(padded["attention_mask"]).astype(np.int64)
        batch["labels"] = _padded_labels(self.tokenizer, features, self.padding, self.pad_to_multiple_of_labels, owner)
        return _convert(batch, return_tensors)


class DataCollatorSpeechSeq2SeqWithPadding:
    """Batches speech-to-text examples (Whisper's ``input_features`` and token ``labels``), as HF's docs do.

    The input features are stacked (Whisper's extractor pads or cuts every clip to 30 s, so
    they have one shape; HF's docs call the extractor's ``pad``, which then only stacks); ``labels``
    are padded by the tokenizer, with -100 where it padded, and when
    every label starts with ``decoder_start_token_id`` that token is removed (the model puts it
    back when it shifts the labels right into ``decoder_input_ids``).

    Args:
        processor: a processor with ``feature_extractor`` and ``tokenizer`` (e.g. ``WhisperProcessor``).
        decoder_start_token_id: the model's ``config.decoder_start_token_id``.
        forward_attention_mask: also return the examples' ``attention_mask`` (made by the extractor with
            ``return_attention_mask=True``), as HF's example script's option does.
        return_tensors: "pt", "tf", "jax", "np", or None for the active backend's tensors.
    """

    def __init__(self, processor, decoder_start_token_id, forward_attention_mask=False, return_tensors=None):
        self.processor = processor
        self.feature_extractor, self.tokenizer = _components(processor, type(self).__name__)
        self.decoder_start_token_id = decoder_start_token_id
        self.forward_attention_mask = forward_attention_mask
        self.return_tensors = return_tensors

    def __call__(self, features, return_tensors=None):
        return_tensors = _check_framework(return_tensors or self.return_tensors)
        features = _as_features(features)
        if not features:
            raise ValueError(f"{type(self).__name__} got an empty list of examples.")
        owner, key = type(self).__name__, self.feature_extractor.model_input_names[0]
        rows = _audio_rows(features, key, owner)
        shapes = sorted({row.shape for row in rows})
        if len(shapes) > 1:
            raise ValueError(f"{owner}: the examples' {key!r} have different shapes {shapes}; the feature extractor "
                             "pads (or truncates) every clip to the same length: call it with its defaults.")
        batch = {key: np.stack(rows)}  # what the extractor's pad does with equal lengths
        if self.forward_attention_mask:
            if any("attention_mask" not in example for example in features):
                raise ValueError(f"{owner}: forward_attention_mask=True needs an 'attention_mask' in every example "
                                 "(call the feature extractor with return_attention_mask=True).")
            batch["attention_mask"] = _stack("attention_mask", [example["attention_mask"] for example in features])
        labels = _padded_labels(self.tokenizer, features, True, None, owner)
        if labels.shape[1] and (labels[:, 0] == self.decoder_start_token_id).all():
            labels = labels[:, 1:]
        batch["labels"] = labels
        return _convert(batch, return_tensors)
