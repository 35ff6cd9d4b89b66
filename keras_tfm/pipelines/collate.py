"""A batch from pipeline features: each model input padded or stacked by the rule of its key.

A feature is a dict; its model inputs are numpy-convertible rows (``input_ids``: a list
of ids; ``pixel_values``: a (C, H, W) array; ``input_values``: a 1-D waveform). Rows of
different lengths are padded on axis 0 with their key's pad value; inputs of one fixed
shape (``pixel_values``) are stacked, and rows of different shapes there are an error.

Inputs whose rows have the lengths of the ``attention_mask`` rows are masked, so their
padding may go past the longest row: their width is rounded up to a bucket
(``bucket_multiple``), so that a model compiled per input shape sees few shapes.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Padding:
    """How the rows of one model input become a batch.

    Attributes:
        value: what fills the padding (token ids: the tokenizer's pad id; masks and
            token type ids: 0; raw audio: the feature extractor's ``padding_value``), or
            None for an input of one fixed shape, whose rows are stacked.
    """

    value: object = 0

    @property
    def stacks(self):
        return self.value is None


STACK = Padding(value=None)

# Inputs whose rows all have one shape whatever the input: a row of another shape is a
# preprocessing error, never something to pad.
FIXED_SHAPE_INPUTS = ("pixel_values", "pixel_mask", "input_features")
# Pad values by key other than the token ids and the raw audio (which come from the processors).
PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0, "position_ids": 0, "decoder_attention_mask": 0,
              "p_mask": 1, "special_tokens_mask": 1, "bbox": 0}
TOKEN_ID_INPUTS = ("input_ids", "decoder_input_ids")
AUDIO_INPUTS = ("input_values",)
KNOWN_INPUTS = (*TOKEN_ID_INPUTS, *PAD_VALUES, *AUDIO_INPUTS, *FIXED_SHAPE_INPUTS)


def padding_rules(pad_token_id=None, audio_padding_value=None):
    """The padding rule of every known model input name.

    Args:
        pad_token_id: what pads token ids (the tokenizer's ``pad_token_id``; 0 when None).
        audio_padding_value: what pads raw audio (the feature extractor's ``padding_value``;
            0.0 when None).
    """
    rules = {name: Padding(value) for name, value in PAD_VALUES.items()}
    rules.update({name: Padding(pad_token_id or 0) for name in TOKEN_ID_INPUTS})
    rules.update({name: Padding(0.0 if audio_padding_value is None else audio_padding_value) for name in AUDIO_INPUTS})
    rules.update({name: STACK for name in FIXED_SHAPE_INPUTS})
    return rules


def collate(features, names, rules, pad_to_multiple_of=0, max_length=None, padding_side="right"):
    """Batches the inputs ``names`` of ``features`` (a list of dicts).

    Args:
        features: the features of the batch.
        names: the model inputs to batch (keys of every feature).
        rules: ``{name: Padding}``; a name without a rule is stacked when its rows have
            one shape, else padded with 0.
        pad_to_multiple_of: masked inputs are padded to a multiple of
            ``bucket_multiple(pad_to_multiple_of, len(features))`` (0: to the longest row).
        max_length: the rounded width never goes past this (the model's positions).
        padding_side: "right", or "left" (generation: the new tokens follow every prompt).

    Returns:
        ``{name: numpy array}`` with the batch on axis 0 (integers as int32, floats as
        float32).
    """
    rows = {name: [_as_array(f[name], name) for f in features] for name in names}
    mask_lengths = [len(r) for r in rows["attention_mask"]] if "attention_mask" in rows else None
    multiple = bucket_multiple(pad_to_multiple_of, len(features))
    batch = {}
    for name, values in rows.items():
        rule = rules.get(name)
        shapes = {v.shape for v in values}
        if rule is None:
            rule = STACK if len(shapes) == 1 else Padding(0)
        if rule.stacks:
            if len(shapes) > 1:
                raise ValueError(_shape_error(name, values))
            batch[name] = np.stack(values)
            continue
        lengths = [len(v) for v in values]
        width = max(lengths)
        if lengths == mask_lengths:
            width = round_up(width, multiple, max_length)
        batch[name] = _pad(name, values, width, rule.value, padding_side)
    return batch


def bucket_multiple(pad_to_multiple_of, rows):
    """What the masked width of a batch of ``rows`` rows is rounded up to a multiple of.

    ``pad_to_multiple_of / rows`` as a power of 2 (at least 1; 0 when ``pad_to_multiple_of``
    is 0): the rounding adds fewer than ``pad_to_multiple_of`` positions to the whole batch,
    whatever its number of rows. One text gets coarse buckets (its width can be any text
    length, and a few padded positions cost less than a compilation); a batch of 32 is
    padded to its longest row (the longest of 32 texts varies little, while padding every
    row would cost 32 times over).
    """
    if not pad_to_multiple_of:
        return 0
    return 1 << max(0, (pad_to_multiple_of // max(rows, 1)).bit_length() - 1)


def round_up(length, multiple, limit=None):
    """``length`` rounded up to a multiple of ``multiple`` (unchanged when 0), at most ``limit`` (but >= length)."""
    if not multiple:
        return length
    rounded = -(-length // multiple) * multiple
    return max(length, min(rounded, limit)) if limit else rounded


def _as_array(row, name):
    array = np.asarray(row)
    if array.dtype.kind in "iub":
        return array.astype("int32", copy=False)
    if array.dtype.kind == "f":
        return array.astype("float32", copy=False)
    raise ValueError(f"The model input {name!r} of a feature holds {array.dtype} values; expected numbers.")


def _pad(name, values, width, value, padding_side):
    trailing = {v.shape[1:] for v in values}
    if len(trailing) > 1:
        raise ValueError(_shape_error(name, values, "beyond their first axis "))
    out = np.full((len(values), width, *trailing.pop()), value, dtype=values[0].dtype)
    for i, v in enumerate(values):
        if padding_side == "left":
            out[i, width - len(v):] = v
        else:
            out[i, :len(v)] = v
    return out


def _shape_error(name, values, where=""):
    shapes = ", ".join(f"{v.shape} (feature {i})" for i, v in enumerate(values))
    return (f"Cannot batch the model input {name!r}: its rows differ in shape {where}({shapes}). Its processor must "
            "give every input the same shape (an image processor: one size), or run the pipeline with batch_size=1.")
