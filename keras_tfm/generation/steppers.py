"""What drives a model during generation: a stepper (prefill, one step, the cache) and its session.

A stepper owns the model's two compiled functions, from the backend shim
(``backend.compile_prefill_step`` / ``compile_decode_step``): *prefill* (the prompt, written
into a static ``KVCache``) and *decode* (one token per row, at a slot index passed as a
tensor, so the decode step is traced once and reused at every step), plus, on backends
that compile loops, a greedy loop of up to ``DECODE_CHUNK`` decode steps per call that
picks tokens by argmax on the device. ``start()`` returns a ``DecodingSession``: the
search loops (``keras_tfm.generation.search``) only ever call its ``step``, ``reorder``
and ``greedy_chunk``, so a new kind of model needs a stepper, not new loops.

- ``CausalLMStepper``: decoder-only LMs; the prompt is the start of the sequence.
- ``EncoderDecoderStepper``: encodes the input once in the prefill, which fills the cache's
  cross part; decoding starts from ``decoder_start_token_id`` at position 0.
"""

import numpy as np
from keras import ops

from keras_tfm import backend
from keras_tfm.layers.cache import KVCache

CACHE_SLOT_MULTIPLE = 64  # cache lengths are rounded up to this, so compiled steps are reused across calls
DECODE_CHUNK = 16  # greedy steps per compiled call where the backend compiles loops


def _tensor(x, dtype="int32"):
    return ops.convert_to_tensor(np.asarray(x).astype(dtype))


def cache_slots(length):
    """Slots for ``length`` positions, rounded up to ``CACHE_SLOT_MULTIPLE``."""
    return -(-length // CACHE_SLOT_MULTIPLE) * CACHE_SLOT_MULTIPLE


class Stepper:
    """The compiled model functions of one model (kept on the model, built on first use).

    Subclasses define ``step`` (the traced model call) and ``start`` (the prefill).
    """

    def __init__(self, model):
        self.model = model
        self._compiled = None

    @classmethod
    def of(cls, model):
        """The model's stepper of this kind (made once, so its compiled functions are reused)."""
        stepper = model.__dict__.get("_keras_tfm_stepper")
        if type(stepper) is not cls:
            stepper = cls(model)
            object.__setattr__(model, "_keras_tfm_stepper", stepper)
        return stepper

    def step(self, cache, input_ids, position_ids, key_valid, cache_index, *extra):
        """One model call over ``input_ids`` (B, T) written into ``cache`` at ``cache_index``:
        ``(last position's logits (B, V) float32, new cache)``."""
        raise NotImplementedError

    def greedy_steps(self, cache, tokens, positions, key_valid, index, unfinished, eos, pad, steps, *extra):
        """``steps`` (<= DECODE_CHUNK) greedy decode steps: feeds ``tokens`` (B, 1) at ``positions``
        and cache slot ``index``, then each argmax token (``pad`` once a row has met ``eos``).
        Returns the chosen tokens (B, DECODE_CHUNK), the first ``steps`` columns filled, and the cache."""

        def one_step(i, state):
            cache, tokens, positions, unfinished, chosen = state
            logits, cache = self.step(cache, tokens, positions, key_valid, index + i, *extra)
            token = ops.where(unfinished, ops.cast(ops.argmax(logits, axis=-1), "int32"), pad)
            unfinished = ops.logical_and(unfinished, ops.logical_not(ops.any(token[:, None] == eos[None, :], axis=-1)))
            chosen = ops.slice_update(chosen, [0, i], token[:, None])
            return cache, token[:, None], positions + 1, unfinished, chosen

        cache = KVCache(*(tuple(ops.convert_to_tensor(t) for t in part) for part in cache))
        chosen = ops.zeros((ops.shape(tokens)[0], DECODE_CHUNK), "int32")
        cache, _, _, _, chosen = ops.fori_loop(0, steps, one_step, (cache, tokens, positions, unfinished, chosen))
        return chosen, cache

    def compiled(self):
        """``(prefill, decode, greedy loop or None)``, compiled once."""
        if self._compiled is None:
            self.model.build_weights()
            loop = (backend.compile_decode_step(self.model, self.greedy_steps) if backend.COMPILED_LOOPS else None)
            self._compiled = (backend.compile_prefill_step(self.model, self.prefill_step),
                              backend.compile_decode_step(self.model, self.step), loop)
        return self._compiled

    def prefill_step(self, cache, *inputs):
        return self.step(cache, *inputs)

    def new_cache(self, batch, slots, cross_slots=None):
        layers, kv_heads, head_dim = self.model.cache_spec()
        return KVCache.zeros(layers, batch, slots, kv_heads, head_dim, self.model.dtype_policy.compute_dtype,
                             cross_slots=cross_slots)


class DecodingSession:
    """One generation's cache, slot index and positions; what the search loops drive.

    ``key_valid`` (B, S) marks the self-attention slots that hold real tokens; ``extra`` are
    the stepper's further inputs of every step (an encoder-decoder's encoder mask).
    """

    def __init__(self, stepper, cache, key_valid, positions, index, extra=()):
        self.stepper, self.cache, self.key_valid = stepper, cache, key_valid
        self.positions, self.index, self.extra = positions, index, tuple(extra)

    def run(self, fn, tokens, *more):
        """``fn`` (a compiled step) over ``tokens`` at the session's positions and slot: logits (B, V)."""
        logits, self.cache = fn(self.cache, _tensor(tokens), _tensor(self.positions), self.key_valid,
                                _tensor(np.int32(self.index)), *self.extra, *more)
        return np.asarray(backend.to_numpy(logits), dtype=np.float32)

    def step(self, tokens):
        """Feeds ``tokens`` (B, 1) at the next position; returns their logits (B, V)."""
        logits = self.run(self.stepper.compiled()[1], tokens)
        self.positions, self.index = self.positions + 1, self.index + 1
        return logits

    def reorder(self, rows):
        """Keeps the cache rows ``rows`` (beam search)."""
        self.cache = self.cache.reorder(rows)

    @property
    def can_loop_on_device(self):
        return self.stepper.compiled()[2] is not None

    def greedy_chunk(self, tokens, steps, unfinished, eos, pad):
        """Feeds ``tokens`` (B, 1), then ``steps - 1`` argmax tokens, on the device: the ``steps``
        chosen tokens (B, steps), ``pad`` after a row's ``eos``."""
        loop = self.stepper.compiled()[2]
        chosen, self.cache = loop(self.cache, _tensor(tokens), _tensor(self.positions), self.key_valid,
                                  _tensor(np.int32(self.index)), ops.convert_to_tensor(unfinished),
                                  _tensor(eos), _tensor(np.int32(pad or 0)), _tensor(np.int32(steps)), *self.extra)
        self.positions, self.index = self.positions + steps, self.index + steps
        return np.asarray(backend.to_numpy(chosen))[:, :steps].astype(np.int64)


class CausalLMStepper(Stepper):
    """Drives a decoder-only LM (a model with ``cache_spec()`` whose call takes ``past_key_values``
    and ``cache_index``)."""

    def step(self, cache, input_ids, position_ids, key_valid, cache_index):
        out = self.model(input_ids, attention_mask=key_valid, position_ids=position_ids, past_key_values=cache,
                         cache_index=cache_index, logits_to_keep=1)
        return ops.cast(out["logits"][:, -1, :], "float32"), out["past_key_values"]

    def start(self, input_ids, attention_mask, max_new_tokens):
        """Prefills the prompt (left-padded rows): ``(logits (B, V), session, the prompt)``."""
        batch, length = input_ids.shape
        slots = cache_slots(length + max_new_tokens)
        key_valid = np.concatenate([attention_mask, np.ones((batch, slots - length), attention_mask.dtype)], axis=1)
        positions = np.cumsum(attention_mask, axis=-1) - 1
        positions[attention_mask == 0] = 0
        session = DecodingSession(self, self.new_cache(batch, slots), _tensor(key_valid), positions, 0)
        logits = session.run(self.compiled()[0], input_ids)
        session.positions, session.index = positions[:, -1:] + 1, length
        return logits, session, input_ids


class EncoderDecoderStepper(Stepper):
    """Drives an encoder-decoder: the model has ``cache_spec()``, ``encode(input_ids,
    attention_mask)`` -> encoder states (B, S, C), and a call taking ``decoder_input_ids``,
    ``encoder_hidden_states`` (None: read the cache's cross part), ``attention_mask`` (the
    encoder's), ``decoder_attention_mask``, ``decoder_position_ids``, ``past_key_values``,
    ``cache_index`` and ``logits_to_keep``."""

    def step(self, cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, encoder_states=None):
        out = self.model(decoder_input_ids=input_ids, encoder_hidden_states=encoder_states,
                         attention_mask=encoder_mask, decoder_attention_mask=key_valid,
                         decoder_position_ids=position_ids, past_key_values=cache, cache_index=cache_index,
                         logits_to_keep=1)
        return ops.cast(out["logits"][:, -1, :], "float32"), out["past_key_values"]

    def prefill_step(self, cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, encoder_ids):
        """Encodes ``encoder_ids`` once and runs the first decoder step, which fills the cross cache."""
        states = self.model.encode(encoder_ids, attention_mask=encoder_mask)
        return self.step(cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, states)

    def start(self, input_ids, attention_mask, max_new_tokens):
        """Encodes ``input_ids`` and feeds ``decoder_start_token_id``: ``(logits (B, V), session,
        the decoder's start tokens (B, 1))``."""
        batch, length = input_ids.shape
        start = getattr(self.model.generation_config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(self.model.config, "decoder_start_token_id", None)
        if start is None:
            raise ValueError("generate on an encoder-decoder needs decoder_start_token_id (in the generation config "
                             "or the model config).")
        slots = cache_slots(1 + max_new_tokens)
        session = DecodingSession(self, self.new_cache(batch, slots, cross_slots=length),
                                  _tensor(np.ones((batch, slots))), np.zeros((batch, 1), np.int64), 0,
                                  extra=(_tensor(attention_mask),))
        tokens = np.full((batch, 1), int(start), np.int64)
        logits = session.run(self.compiled()[0], tokens, _tensor(input_ids))
        session.positions, session.index = session.positions + 1, 1
        return logits, session, tokens


STEPPERS = {"causal_lm": CausalLMStepper, "encoder_decoder": EncoderDecoderStepper}


def stepper_for(model):
    """The stepper that drives ``model`` (its ``stepper`` attribute names the kind)."""
    kind = getattr(model, "stepper", "causal_lm")
    if kind not in STEPPERS:
        raise ValueError(f"{type(model).__name__}.stepper={kind!r}: generate() knows {sorted(STEPPERS)}.")
    return STEPPERS[kind].of(model)
