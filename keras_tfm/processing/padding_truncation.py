"""Padding and truncation options of a tokenizer call, resolved as ``transformers`` resolves them."""

import logging

logger = logging.getLogger(__name__)

VERY_LARGE_INTEGER = int(1e30)  # model_max_length of a model without a limit (as transformers)
LARGE_INTEGER = int(1e20)

PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")


def _strategy(name, value, when_true, valid, off):
    """``value`` as a strategy name; True is ``when_true``; False / None / ``off`` is None."""
    value = getattr(value, "value", value)  # transformers' PaddingStrategy / TruncationStrategy enums
    if value is True:
        return when_true
    if value is False or value is None or value == off:
        return None
    if value in valid:
        return value
    raise ValueError(f"{name}={value!r} is not valid; use True, False, or one of {valid}.")


def padding_strategy(padding):
    """"longest", "max_length" or None (no padding) from a ``padding`` argument."""
    return _strategy("padding", padding, "longest", PADDING_STRATEGIES, "do_not_pad")


def truncation_strategy(truncation):
    """"longest_first", "only_first", "only_second" or None from a ``truncation`` argument."""
    return _strategy("truncation", truncation, "longest_first", TRUNCATION_STRATEGIES, "do_not_truncate")


def check_side(name, side):
    """``side`` if it is "left" or "right"; ValueError naming the argument otherwise."""
    if side not in ("left", "right"):
        raise ValueError(f"{name}={side!r} is not valid; use 'left' or 'right'.")
    return side


def pad_row(row, length, value, side):
    """The list ``row`` padded with ``value`` on ``side`` to ``length``."""
    fill = [value] * (length - len(row))
    return row + fill if side == "right" else fill + row


def round_up(length, multiple):
    """``length`` rounded up to a multiple of ``multiple`` (unchanged when ``multiple`` is None or 0)."""
    if multiple and length % multiple:
        return (length // multiple + 1) * multiple
    return length


def resolve_padding_truncation(padding, truncation, max_length, pad_to_multiple_of, *, model_max_length,
                               has_pad_token, verbose):
    """Resolves the strategies as transformers does; returns (padding, truncation, max_length).

    ``max_length`` alone turns truncation on; without ``max_length``, "max_length" padding
    and truncation go to ``model_max_length`` (or are off when the model has no limit).
    """
    if max_length is not None and padding is False and truncation is None:
        truncation = "longest_first"
    if padding is True and verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
        logger.warning("max_length is ignored when padding=True without truncation; use padding='max_length'.")
    padding = padding_strategy(padding)
    truncation = truncation_strategy(truncation)
    if max_length is None:
        no_limit = model_max_length > LARGE_INTEGER
        if padding == "max_length":
            padding, max_length = (None, None) if no_limit else (padding, model_max_length)
        if truncation is not None:
            truncation, max_length = (None, max_length) if no_limit else (truncation, model_max_length)
    if padding is not None and not has_pad_token:
        raise ValueError(
            "Asking to pad but the tokenizer has no padding token: set one, e.g. "
            "tokenizer.pad_token = tokenizer.eos_token or tokenizer.add_special_tokens({'pad_token': '[PAD]'})."
        )
    if truncation and padding and pad_to_multiple_of and max_length and max_length % pad_to_multiple_of:
        raise ValueError(
            f"Truncation and padding are both on, but max_length={max_length} is not a multiple of "
            f"pad_to_multiple_of={pad_to_multiple_of}."
        )
    return padding, truncation, max_length
