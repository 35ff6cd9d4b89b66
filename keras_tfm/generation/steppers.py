"""What drives a model during generation: a stepper (prefill, one step, the cache) and its session.

A stepper owns the model's two compiled functions, from the backend shim
(``backend.compile_prefill_step`` / ``compile_decode_step``): *prefill* (the prompt, written
into a static ``KVCache``) and *decode* (one token per row, at a slot index passed as a
tensor, so the decode step is traced once and reused at every step), plus, on backends
that compile loops, a greedy loop of up to ``DECODE_CHUNK`` decode steps per call that
picks tokens by argmax on the device. ``start()`` returns a ``DecodingSession``: the
search loops (``keras_tfm.generation.search``) only ever call its ``step``, ``reorder``
and ``greedy_chunk``, so a new kind of model needs a stepper, not new loops.

The cache starts with room for the prompt and ``FIRST_NEW_SLOTS`` new tokens, and the session
doubles it when a step would pass its end (up to the prompt plus ``max_new_tokens``): a large
``max_new_tokens`` that eos cuts short costs no memory, and a grown cache means one more trace
of each compiled step (a handful over a long generation), never one per token.

- ``CausalLMStepper``: decoder-only LMs; the prompt is the start of the sequence.
- ``EncoderDecoderStepper``: encodes each input once in the prefill, which fills the cache's
  cross part; decoding starts from the decoder prompt (``decoder_start_token_id`` first) at
  position 0.
"""

import keras
import numpy as np
from keras import ops

from keras_tfm import backend
from keras_tfm.layers.cache import KVCache

_STEPPER_ATTRIBUTE = "_keras_tfm_stepper"  # where a model keeps its stepper (outside Keras' tracking)


def forget_stepper(model):
    """Drops ``model``'s stepper and its compiled steps: the next generate compiles them again (after the
    model's layers changed, as quantization changes them)."""
    model.__dict__.pop(_STEPPER_ATTRIBUTE, None)


CACHE_SLOT_MULTIPLE = 64  # cache lengths are rounded up to this, so compiled steps are reused across calls
DECODE_CHUNK = 16  # greedy steps per compiled call where the backend compiles loops
FIRST_NEW_SLOTS = 256  # room for new tokens in a fresh cache; it doubles when a step needs more


def _tensor(x, dtype="int32"):
    return ops.convert_to_tensor(np.asarray(x).astype(dtype))


def host_logits(logits):
    """Logits as a writeable float32 numpy array: the search loops' processors write into it
    (JAX hands out read-only views of device buffers)."""
    return np.require(backend.to_numpy(logits), np.float32, ["W"])


def cache_slots(length):
    """Slots for ``length`` positions, rounded up to ``CACHE_SLOT_MULTIPLE``."""
    return -(-length // CACHE_SLOT_MULTIPLE) * CACHE_SLOT_MULTIPLE


def first_and_most_slots(length, max_new_tokens):
    """A fresh cache's slots for a prompt of ``length``, and the most it may grow to."""
    return cache_slots(length + min(max_new_tokens, FIRST_NEW_SLOTS)), cache_slots(length + max_new_tokens)


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
        stepper = model.__dict__.get(_STEPPER_ATTRIBUTE)
        if type(stepper) is not cls:
            stepper = cls(model)
            object.__setattr__(model, _STEPPER_ATTRIBUTE, stepper)
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
    the stepper's further inputs of every step (an encoder-decoder's encoder mask);
    ``most_slots`` bounds the cache's growth.
    """

    def __init__(self, stepper, cache, key_valid, positions, index, most_slots, extra=(), prompt_padding=None,
                 encoder_input_ids=None):
        self.stepper, self.cache, self.key_valid, self.most_slots = stepper, cache, key_valid, most_slots
        self.positions, self.index, self.extra = positions, index, tuple(extra)
        # what the processors read: each row's left padding, an encoder-decoder's input ids (B, S)
        self.prompt_padding, self.encoder_input_ids = prompt_padding, encoder_input_ids

    def run(self, fn, tokens, *more):
        """``fn`` (a compiled step) over ``tokens`` at the session's positions and slot: logits (B, V)."""
        logits, self.cache = fn(self.cache, _tensor(tokens), _tensor(self.positions), self.key_valid,
                                _tensor(np.int32(self.index)), *self.extra, *more)
        return host_logits(logits)

    def make_room(self, steps):
        """Grows the cache, doubling it (at most to ``most_slots``), until the next ``steps`` tokens fit;
        the new slots count as real tokens in ``key_valid``, as the ones after the prompt always do."""
        slots = self.cache.num_slots
        if self.index + steps <= slots:
            return
        grown = min(max(2 * slots, cache_slots(self.index + steps)), self.most_slots)
        if grown < self.index + steps:
            raise ValueError(f"{steps} more tokens at slot {self.index} pass the {self.most_slots} slots made "
                             f"for max_new_tokens")
        self.cache = self.cache._replace(keys=tuple(backend.cache_grow(t, grown) for t in self.cache.keys),
                                         values=tuple(backend.cache_grow(t, grown) for t in self.cache.values))
        dtype = keras.backend.standardize_dtype(self.key_valid.dtype)
        more = ops.ones((ops.shape(self.key_valid)[0], grown - slots), dtype)
        self.key_valid = ops.concatenate([self.key_valid, more], axis=1)

    def step(self, tokens):
        """Feeds ``tokens`` (B, 1) at the next position; returns their logits (B, V)."""
        self.make_room(1)
        logits = self.run(self.stepper.compiled()[1], tokens)
        self.positions, self.index = self.positions + 1, self.index + 1
        return logits

    def reorder(self, rows):
        """Keeps the cache rows ``rows`` (beam search).

        Beams never leave their input's group of rows, and every row of a group holds the same
        encoder states: the cross-attention part is the same after the gather, so only the
        self-attention part is gathered.
        """
        rows = ops.convert_to_tensor(np.asarray(rows, np.int32))
        self.cache = self.cache._replace(keys=tuple(backend.cache_reorder(t, rows) for t in self.cache.keys),
                                         values=tuple(backend.cache_reorder(t, rows) for t in self.cache.values))

    @property
    def can_loop_on_device(self):
        return self.stepper.compiled()[2] is not None

    def greedy_chunk(self, tokens, steps, unfinished, eos, pad):
        """Feeds ``tokens`` (B, 1), then ``steps - 1`` argmax tokens, on the device: the ``steps``
        chosen tokens (B, steps), ``pad`` after a row's ``eos``."""
        loop = self.stepper.compiled()[2]
        self.make_room(steps)
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

    def start(self, max_new_tokens, input_ids, attention_mask, expand=1):
        """Prefills the prompt (left-padded rows), each row repeated ``expand`` times (beams,
        returned sequences): ``(logits (B * expand, V), session, the prompt (B * expand, L))``."""
        input_ids, attention_mask = np.repeat(input_ids, expand, 0), np.repeat(attention_mask, expand, 0)
        batch, length = input_ids.shape
        slots, most_slots = first_and_most_slots(length, max_new_tokens)
        key_valid = np.concatenate([attention_mask, np.ones((batch, slots - length), attention_mask.dtype)], axis=1)
        positions = np.cumsum(attention_mask, axis=-1) - 1
        positions[attention_mask == 0] = 0
        session = DecodingSession(self, self.new_cache(batch, slots), _tensor(key_valid), positions, 0, most_slots,
                                  prompt_padding=(attention_mask != 0).argmax(axis=1))
        logits = session.run(self.compiled()[0], input_ids)
        session.positions, session.index = positions[:, -1:] + 1, length
        return logits, session, input_ids


class EncoderDecoderStepper(Stepper):
    """Drives an encoder-decoder: the model has ``cache_spec()``, ``encode(input_ids,
    attention_mask)`` -> encoder states (B, S, C), and a call taking ``decoder_input_ids``,
    ``encoder_hidden_states`` (None: read the cache's cross part), ``attention_mask`` (the
    encoder's), ``decoder_attention_mask``, ``decoder_position_ids``, ``past_key_values``,
    ``cache_index`` and ``logits_to_keep`` (or a ``generation_call`` taking those).

    Each input is encoded, and its decoder prompt run (cross keys / values included), once;
    the prefill then repeats the cache rows and logits to the input's ``expand`` rows (beams,
    returned sequences).
    """

    def __init__(self, model):
        super().__init__(model)
        self._states_prefill = None

    def step(self, cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, encoder_states=None):
        inputs = dict(decoder_input_ids=input_ids, encoder_hidden_states=encoder_states, attention_mask=encoder_mask,
                      decoder_attention_mask=key_valid, decoder_position_ids=position_ids, past_key_values=cache,
                      cache_index=cache_index, logits_to_keep=1)
        # a model whose call names these inputs otherwise (BLIP: the decoder's tokens are its text
        # input_ids) maps them in its generation_call
        call = getattr(self.model, "generation_call", self.model)
        out = call(**inputs)
        return ops.cast(out["logits"][:, -1, :], "float32"), out["past_key_values"]

    def prefill_step(self, cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, rows, encoder_ids):
        """Encodes ``encoder_ids`` (one row per input) and runs the decoder prompt: see ``expand``."""
        states = self.model.encode(encoder_ids, attention_mask=encoder_mask)
        return self.expand(cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, rows, states)

    def expand(self, cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, rows, states):
        """Runs the decoder prompt on one row per input (its cross keys / values computed once per
        input too), then gives row ``i`` of ``cache`` and of the logits those of input ``rows[i]``:
        the rows of one input (beams, returned sequences) start identical."""
        batch = ops.shape(input_ids)[0]
        if batch == cache.keys[0].shape[0]:  # one row per input (greedy): nothing to repeat
            return self.step(cache, input_ids, position_ids, key_valid, cache_index, encoder_mask, states)
        dtype = self.model.dtype_policy.compute_dtype
        own = KVCache(*(tuple(ops.zeros((batch,) + tuple(t.shape[1:]), dtype) for t in part) for part in cache))
        logits, own = self.step(own, input_ids, position_ids, key_valid, cache_index, encoder_mask, states)
        return ops.take(logits, rows, axis=0), KVCache(*(tuple(ops.take(t, rows, axis=0) for t in part)
                                                         for part in own))

    def compiled_states_prefill(self):
        """The prefill from encoder states the caller gives (``generate(encoder_outputs=...)``): ``expand``."""
        self.compiled()
        if self._states_prefill is None:
            self._states_prefill = backend.compile_prefill_step(self.model, self.expand)
        return self._states_prefill

    def start(self, max_new_tokens, input_ids, attention_mask, decoder_input_ids, expand=1, encoder_states=None):
        """Encodes the input (or takes ``encoder_states``) and prefills the decoder prompt.

        Args:
            max_new_tokens: tokens to make room for after the decoder prompt.
            input_ids: the encoder's input (B, S) (float features (B, C, frames) for an encoder of
                features), or None when ``encoder_states`` are given.
            attention_mask: the mask over the encoder's output states (B, S).
            decoder_input_ids: the decoder prompt (B, T), ``decoder_start_token_id`` first.
            expand: rows per input (beams, returned sequences).
            encoder_states: (B, S, C) encoder output to use instead of running the encoder.

        Returns:
            ``(logits (B * expand, V), session, the decoder prompt (B * expand, T))``.
        """
        batch, source_length = attention_mask.shape
        rows = np.repeat(np.arange(batch), expand)
        length = decoder_input_ids.shape[1]
        slots, most_slots = first_and_most_slots(length, max_new_tokens)
        # float inputs (Whisper's input_features) are the encoder's features, not token ids
        is_ids = input_ids is not None and np.asarray(input_ids).dtype.kind in "iu"
        session = DecodingSession(self, self.new_cache(len(rows), slots, cross_slots=source_length),
                                  _tensor(np.ones((len(rows), slots))), np.full((len(rows), 1), length, np.int64),
                                  length, most_slots, extra=(_tensor(attention_mask[rows]),),
                                  prompt_padding=np.zeros(len(rows), np.int64),
                                  encoder_input_ids=input_ids if is_ids else None)
        prefill, source = ((self.compiled()[0], _tensor(input_ids, "int32" if is_ids else "float32"))
                           if encoder_states is None else (self.compiled_states_prefill(), encoder_states))
        logits, session.cache = prefill(session.cache, _tensor(decoder_input_ids),
                                        _tensor(np.broadcast_to(np.arange(length), decoder_input_ids.shape)),
                                        _tensor(np.ones((batch, slots))), _tensor(np.int32(0)),
                                        _tensor(attention_mask), _tensor(rows), source)
        return host_logits(logits), session, decoder_input_ids[rows]


STEPPERS = {"causal_lm": CausalLMStepper, "encoder_decoder": EncoderDecoderStepper}


def stepper_for(model):
    """The stepper that drives ``model`` (its ``stepper`` attribute names the kind)."""
    kind = getattr(model, "stepper", "causal_lm")
    if kind not in STEPPERS:
        raise ValueError(f"{type(model).__name__}.stepper={kind!r}: generate() knows {sorted(STEPPERS)}.")
    return STEPPERS[kind].of(model)
