"""``generate()``: checks the request, then runs a search loop (``search``) over the model's
stepper (``steppers``), for every model kind and every backend."""

import copy
import logging

import numpy as np
from keras import ops

from keras_tfm import backend
from keras_tfm.generation import search
from keras_tfm.generation.configuration_utils import GenerationConfig
from keras_tfm.generation.search import (  # noqa: F401
    GenerateBeamDecoderOnlyOutput,
    GenerateBeamEncoderDecoderOutput,
    GenerateDecoderOnlyOutput,
    GenerateEncoderDecoderOutput,
)
from keras_tfm.generation.steppers import CACHE_SLOT_MULTIPLE, DECODE_CHUNK, stepper_for  # noqa: F401

logger = logging.getLogger(__name__)

def _as_list(eos):
    if eos is None:
        return []
    if isinstance(eos, (list, tuple)):
        return [int(e) for e in eos]
    return [int(np.asarray(backend.to_numpy(eos)).reshape(-1)[0])] if not isinstance(eos, int) else [eos]


def _to_ids(x, name):
    if x is None:
        return None
    array = np.asarray(backend.to_numpy(x))
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(f"generate: {name} must be integer ids of shape (batch, length), got {array.dtype} "
                         f"{array.shape}.")
    return array.astype(np.int64)


def _vocab_size(config):
    """The (decoder's) vocabulary size: the config's own, or its decoder's / text model's."""
    for part in (config, getattr(config, "decoder", None), getattr(config, "text_config", None)):
        size = getattr(part, "vocab_size", None) if part is not None else None
        if isinstance(size, int):
            return size
    return None


def _check_in_vocabulary(ids, vocab_size, name):
    """The prompt's ids are checked here: the compiled steps cannot check them, and a gather outside
    the embedding table is no error on every backend."""
    if vocab_size and ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"generate: {name} holds the id {bad}, outside the vocabulary (0..{vocab_size - 1}, "
                         "config.vocab_size).")


def _to_features(x, name):
    """An encoder's float input (Whisper's ``input_features`` (B, mel bins, frames), an image
    encoder's ``pixel_values`` (B, C, H, W)) as float32 numpy."""
    array = np.asarray(backend.to_numpy(x))
    if array.ndim not in (3, 4) or array.dtype.kind != "f":
        raise ValueError(f"generate: {name} must be floats of shape (batch, channels, frames) or (batch, channels, "
                         f"height, width), got {array.dtype} {array.shape}.")
    return array.astype(np.float32)


def _encoder_states(model, encoder_outputs):
    """``encoder_outputs`` (a ``BaseModelOutput``, a dict or tuple whose first entry is the
    last hidden state, or the states themselves) as a (B, S, C) tensor of the compute dtype."""
    states = encoder_outputs
    if isinstance(states, dict):
        if "last_hidden_state" not in states:
            raise ValueError(f"encoder_outputs has no last_hidden_state (it has {sorted(states)}).")
        states = states["last_hidden_state"]
    elif isinstance(states, (tuple, list)):
        states = states[0]
    shape = tuple(ops.shape(states))
    if len(shape) != 3:
        raise ValueError(f"encoder_outputs.last_hidden_state must be (batch, length, hidden), got {shape}.")
    states = states if backend.is_tensor(states) else np.asarray(states)
    return ops.cast(ops.convert_to_tensor(states), model.dtype_policy.compute_dtype)

def _decoder_prompt(model, gc, batch, decoder_input_ids):
    """The decoder's first tokens (B, T): ``decoder_start_token_id``, or the ``decoder_input_ids``
    given, the start token put first unless every row begins with it (as HF does)."""
    start = gc.decoder_start_token_id
    if start is None:
        start = getattr(model.config, "decoder_start_token_id", None)
    if start is None:
        start = gc.bos_token_id
    if start is None:
        raise ValueError("`decoder_start_token_id` or `bos_token_id` has to be defined for encoder-decoder "
                         "generation (in the generation config or the model config).")
    first = np.full((batch, 1), int(start), np.int64)
    prompt = _to_ids(decoder_input_ids, "decoder_input_ids")
    if prompt is None or prompt.shape[1] == 0:
        return first
    if prompt.shape[0] != batch:
        raise ValueError(f"decoder_input_ids has {prompt.shape[0]} rows but the encoder input has {batch}.")
    return np.concatenate([first, prompt], axis=1) if np.all(prompt[:, 0] != start) else prompt


def _encoder_outputs_asked(model, gc, ids, mask, encoder_outputs):
    """``encoder_hidden_states`` / ``encoder_attentions`` for the output when asked for
    (``return_dict_in_generate`` with ``output_hidden_states`` / ``output_attentions``): those of
    the ``encoder_outputs`` passed in, else one more encoder pass (generation itself keeps only
    the last hidden state). The decoder's per-step states and attentions are not returned."""
    hidden, attentions = getattr(gc, "output_hidden_states", False), getattr(gc, "output_attentions", False)
    if not gc.return_dict_in_generate or not (hidden or attentions):
        return {}
    if encoder_outputs is None and ids is not None and hasattr(model, "get_encoder"):
        encoder_outputs = model.get_encoder()(ids, attention_mask=mask, output_hidden_states=hidden,
                                              output_attentions=attentions)
    found = encoder_outputs if isinstance(encoder_outputs, dict) else {}
    return {"encoder_hidden_states": found.get("hidden_states") if hidden else None,
            "encoder_attentions": found.get("attentions") if attentions else None}


class StopStringCriteria:
    """Stops a row when its generated text comes to contain one of ``stop_strings``."""

    def __init__(self, tokenizer, stop_strings, prompt_length):
        self.tokenizer = tokenizer
        self.stop_strings = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings)
        self.prompt_length = prompt_length

    def __call__(self, sequences):
        done = np.zeros(sequences.shape[0], bool)
        for i, row in enumerate(sequences):
            new = row[self.prompt_length:].tolist()
            text, before = self.tokenizer.decode(new), self.tokenizer.decode(new[:-1])
            done[i] = any(s in text and s not in before for s in self.stop_strings)
        return done


class GenerationMixin:
    """``generate()`` for a model that a stepper drives (``model.stepper``: ``"causal_lm"`` or
    ``"encoder_decoder"``; see ``keras_tfm.generation.steppers``).

    Task models get it through ``keras_tfm.models.generative.GenerativeModel``, which
    ``keras_tfm.generation`` points here at import; a model of one's own may also subclass
    this mixin directly (it needs ``generation_config``).
    """

    uses_learned_positions = False  # GPT-2: positions past max_position_embeddings do not exist

    # ---- generate -------------------------------------------------------------------------
    def generate(self, inputs=None, generation_config=None, logits_processor=None, stopping_criteria=None,
                 streamer=None, tokenizer=None, **kwargs):
        """Generates token ids for a prompt, as ``transformers``' ``generate`` does.

        Args:
            inputs / input_ids: prompt ids ``(batch, length)`` (numpy, list or backend tensor),
                left-padded for batches; a model whose ``main_input_name`` is not ``input_ids``
                takes its float encoder input here or under that name (``input_features``).
            attention_mask: 1 for real tokens, 0 for padding (inferred from ``pad_token_id``
                when not given, as HF does).
            encoder_outputs: encoder-decoders: the encoder's output (a ``BaseModelOutput`` with
                ``last_hidden_state``); the encoder is then not run.
            decoder_input_ids: encoder-decoders: the decoder's prompt (``decoder_start_token_id``
                is put first unless every row starts with it). ``max_length`` / ``min_length``
                count the decoder's tokens, the start token included.
            generation_config: a ``GenerationConfig``; by default the model's own
                (``generation_config.json`` when loaded with ``from_pretrained``).
            logits_processor: processors (callables ``(ids, scores) -> scores`` on numpy) run after
                the ones the generation config makes, before the sampling warpers (one of the same
                type replaces the config's, as HF merges them).
            streamer: a ``TextStreamer`` / ``TextIteratorStreamer`` (greedy and sampling).
            tokenizer: needed for ``stop_strings``.
            **kwargs: fields of ``GenerationConfig`` (``max_new_tokens``, ``do_sample``,
                ``top_k``, ``num_beams``...); anything else is an error.

        Returns:
            The sequences (prompt + new tokens; an encoder-decoder's decoder prompt + new tokens)
            as a backend int tensor, or with ``return_dict_in_generate=True`` an output
            (``GenerateDecoderOnlyOutput``, ``GenerateEncoderDecoderOutput`` and their beam
            kinds) with ``sequences`` and, on request, ``scores`` / ``logits`` (numpy, one
            ``(batch, vocab)`` array per step).
        """
        # an encoder of features (Whisper's input_features) rather than token ids
        feature_name = getattr(self, "main_input_name", "input_ids")
        feature_name = None if feature_name == "input_ids" else feature_name
        features = None
        if feature_name is not None:
            features = kwargs.pop(feature_name, None) if inputs is None else inputs
            inputs = None
        input_ids = kwargs.pop("input_ids", None) if inputs is None else inputs
        attention_mask = kwargs.pop("attention_mask", None)
        token_type_ids = kwargs.pop("token_type_ids", None)
        if token_type_ids is not None and np.any(np.asarray(backend.to_numpy(token_type_ids))):
            raise ValueError(f"{type(self).__name__}.generate does not take token_type_ids.")
        if stopping_criteria:
            raise NotImplementedError("Custom stopping_criteria lists are not supported yet.")
        if generation_config is not None and not isinstance(generation_config, GenerationConfig):
            raise TypeError(f"generation_config must be a GenerationConfig, got {type(generation_config).__name__}.")
        # A config passed in sets what it was given; the model's generation config fills the rest (HF 5).
        decoder_only = getattr(self, "stepper", "causal_lm") == "causal_lm"
        # an encoder-decoder's further inputs (on a decoder-only model they stay unknown keyword arguments)
        encoder_outputs = None if decoder_only else kwargs.pop("encoder_outputs", None)
        decoder_input_ids = None if decoder_only else kwargs.pop("decoder_input_ids", None)
        gc = copy.deepcopy(self.generation_config)
        if generation_config is not None:
            gc = generation_config.over(gc)
        unused = gc.update(**kwargs)
        if unused:
            raise ValueError(
                f"The following `model_kwargs` are not used by the model: {sorted(unused)} (note: typos in the "
                "generate arguments will also show up in this list)"
            )
        gc.validate()

        ids = _to_ids(input_ids, "input_ids")
        states = None if encoder_outputs is None else _encoder_states(self, encoder_outputs)
        if features is not None:
            features = _to_features(features, feature_name)
            if states is not None:
                raise ValueError(f"Pass {feature_name} or encoder_outputs to generate, not both.")
            # the stepper's "input_ids" are the features; masks and lengths describe the encoder's states
            states_length = self.encoder_states_length(features.shape)
            ids, source_shape = None, (features.shape[0], states_length)
            attention_mask = None  # the encoder reads every frame / pixel (Whisper ignores a mask): every state counts
        if ids is None and states is None and features is None:
            if not decoder_only:
                raise ValueError(f"{type(self).__name__}.generate needs input_ids (the encoder's input) or "
                                 "encoder_outputs.")
            if gc.bos_token_id is None:
                raise ValueError("generate needs input_ids (or a bos_token_id to start from).")
            ids = np.array([[gc.bos_token_id]], np.int64)
        if ids is not None and ids.shape[1] == 0:
            raise ValueError("generate: input_ids is empty; pass at least one token per row.")
        if features is None:
            source_shape = tuple(ids.shape) if states is None else tuple(states.shape[:2])
        if ids is not None and tuple(ids.shape) != source_shape:
            raise ValueError(f"input_ids has shape {ids.shape}, encoder_outputs {tuple(states.shape)}: they must "
                             "describe the same batch and length.")
        eos = _as_list(gc.eos_token_id)
        if attention_mask is not None:
            mask = _to_ids(attention_mask, "attention_mask")
        else:
            mask = np.ones(source_shape, np.int64)
            # HF infers the mask from the padding (encoder_outputs passed: no mask, every state attended)
            if states is None and gc.pad_token_id is not None and gc.pad_token_id not in eos \
                    and np.any(ids == gc.pad_token_id):
                mask = (ids != gc.pad_token_id).astype(np.int64)
        if mask.shape != source_shape:
            raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {source_shape}: they must match.")
        batch = source_shape[0]
        if gc.pad_token_id is None and eos:
            logger.warning("Setting `pad_token_id` to `eos_token_id`:%s for open-end generation.", eos[0])
            gc.pad_token_id = eos[0]
        if decoder_only and batch > 1 and np.any(mask[:, -1] == 0):
            logger.warning("A decoder-only architecture is being used, but right-padding was detected! For correct "
                           "generation results, please set `padding_side='left'` when initializing the tokenizer.")
        vocab_size = _vocab_size(self.config)
        if ids is not None:
            _check_in_vocabulary(ids, vocab_size, "input_ids")
        if decoder_only:
            inputs, length, prompt_name = {"input_ids": ids, "attention_mask": mask}, ids.shape[1], "input_ids"
        else:
            decoder_ids = _decoder_prompt(self, gc, batch, decoder_input_ids)
            _check_in_vocabulary(decoder_ids, vocab_size, "decoder_input_ids")
            inputs = {"input_ids": ids if features is None else features, "attention_mask": mask,
                      "decoder_input_ids": decoder_ids, "encoder_states": states}
            length, prompt_name = decoder_ids.shape[1], "decoder_input_ids"
        # lengths count the decoder's tokens: the prompt (decoder-only) or decoder_start_token_id onwards
        limit = getattr(self.config, "max_position_embeddings", None) or getattr(self.config, "max_target_positions",
                                                                                 None)
        if gc.max_new_tokens is not None:
            max_new = gc.max_new_tokens
        elif "max_length" in gc._given:
            max_new = gc.max_length - length
        else:  # nobody set max_length: HF makes it that many new tokens, within the model's positions
            max_new = (min(length + gc.max_length, limit) if limit else length + gc.max_length) - length
        if max_new <= 0:
            raise ValueError(
                f"Input length of {prompt_name} is {length}, but `max_length` is set to {gc.max_length}: nothing is "
                "left to generate. Increase `max_length` or, better yet, set `max_new_tokens`."
            )
        if gc.min_new_tokens is not None:
            gc.min_length = gc.min_new_tokens + length
        if gc.min_length and gc.min_length > length + max_new:
            logger.warning("Unfeasible length constraints: `min_length` (%d) is larger than the maximum possible "
                           "length (%d).", gc.min_length, length + max_new)
        if limit and self.uses_learned_positions and length + max_new > limit:
            raise ValueError(
                f"The prompt ({length} tokens) plus max_new_tokens ({max_new}) needs {length + max_new} positions, but "
                f"{type(self).__name__} has {limit} (config.max_position_embeddings). Shorten the prompt "
                "(truncation=True, max_length=...) or ask for fewer new tokens."
            )
        if limit and length + max_new > limit:
            logger.warning("Generating up to %d positions, beyond max_position_embeddings=%d of %s.",
                           length + max_new, limit, type(self).__name__)
        stop = None
        if gc.stop_strings:
            if tokenizer is None:
                raise ValueError(
                    "There are one or more stop strings, either in the arguments to `generate` or in the model's "
                    "generation config, but we could not locate a tokenizer. When generating with stop strings, you "
                    "must pass the model's tokenizer to the `tokenizer` argument of `generate`."
                )
            stop = StopStringCriteria(tokenizer, gc.stop_strings, length)
        if gc.num_beams > 1 and streamer is not None:
            raise ValueError("`streamer` cannot be used with beam search (yet!). Make sure that `num_beams` is set "
                             "to 1.")

        stepper = stepper_for(self)
        with backend.inference_mode():
            if gc.num_beams > 1:
                out = search.beam_search(stepper, inputs, gc, max_new, eos, stop, logits_processor)
            else:
                out = search.sample(stepper, inputs, gc, max_new, eos, stop, streamer, logits_processor)
        out["sequences"] = ops.convert_to_tensor(out["sequences"].astype(np.int32))
        if not decoder_only:
            out = search.as_encoder_decoder_output(out, **_encoder_outputs_asked(
                self, gc, ids if features is None else features, mask, encoder_outputs))
        if gc.return_dict_in_generate:
            return out
        return out["sequences"]
