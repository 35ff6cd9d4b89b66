"""``generate()``, written once for every decoder-only model and every backend.

The model runs as two compiled functions from the backend shim
(``backend.compile_prefill_step`` / ``compile_decode_step``): *prefill* (the whole prompt,
written into a static KV cache) and *decode* (one token per row, at a slot index passed as a tensor, so the
decode step is traced once and reused at every step). Choosing tokens (processors,
sampling, beam bookkeeping) runs on the host in numpy, as Hugging Face computes it.
Plain greedy decoding (no processor, score output, streamer or stop string) on a backend
that compiles loops (XLA) runs up to ``DECODE_CHUNK`` steps per compiled call instead,
picking each token by argmax on the device: a host round trip per token cost 1-3 ms of a
25-30 ms GPT-2 step.
"""

import copy
import logging

import numpy as np
from keras import ops

from keras_tfm import backend
from keras_tfm.generation import logits_process as lp
from keras_tfm.generation.configuration_utils import GenerationConfig
from keras_tfm.generation.kv_cache import init_cache, reorder_cache
from keras_tfm.modeling_outputs import ModelOutput

logger = logging.getLogger(__name__)

CACHE_SLOT_MULTIPLE = 64  # cache lengths are rounded up to this, so compiled steps are reused across calls
DECODE_CHUNK = 16  # greedy steps per compiled call where the backend compiles loops


class GenerateDecoderOnlyOutput(ModelOutput):
    fields = ("sequences", "scores", "logits", "past_key_values")


class GenerateBeamDecoderOnlyOutput(ModelOutput):
    fields = ("sequences", "sequences_scores", "scores", "logits", "beam_indices", "past_key_values")


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
    """Adds ``generate()`` to a causal LM whose backbone has ``cache_spec()``."""

    uses_learned_positions = False  # GPT-2: positions past max_position_embeddings do not exist

    # ---- the two compiled model functions ---------------------------------------------
    def _step(self, cache, input_ids, position_ids, key_valid, cache_index):
        out = self(input_ids, attention_mask=key_valid, position_ids=position_ids, past_key_values=cache,
                   cache_index=cache_index, logits_to_keep=1)
        return ops.cast(out["logits"][:, -1, :], "float32"), out["past_key_values"]

    def _greedy_steps(self, cache, tokens, positions, key_valid, index, unfinished, eos, pad, steps):
        """``steps`` (<= DECODE_CHUNK) greedy decode steps: feeds ``tokens`` (B, 1) at ``positions``
        and cache slot ``index``, then each argmax token (``pad`` once a row has met ``eos``).
        Returns the chosen tokens (B, DECODE_CHUNK), the first ``steps`` columns filled, and the cache."""

        def one_step(i, state):
            cache, tokens, positions, unfinished, chosen = state
            logits, cache = self._step(cache, tokens, positions, key_valid, index + i)
            cache = [tuple(layer) for layer in cache]
            token = ops.where(unfinished, ops.cast(ops.argmax(logits, axis=-1), "int32"), pad)
            unfinished = ops.logical_and(unfinished, ops.logical_not(ops.any(token[:, None] == eos[None, :], axis=-1)))
            chosen = ops.slice_update(chosen, [0, i], token[:, None])
            return cache, token[:, None], positions + 1, unfinished, chosen

        cache = [tuple(ops.convert_to_tensor(t) for t in layer) for layer in cache]
        chosen = ops.zeros((ops.shape(tokens)[0], DECODE_CHUNK), "int32")
        cache, _, _, _, chosen = ops.fori_loop(0, steps, one_step, (cache, tokens, positions, unfinished, chosen))
        return chosen, cache

    def _generation_steps(self):
        fns = self.__dict__.get("_keras_tfm_generation_steps")
        if fns is None:
            self.build_weights()
            loop = backend.compile_decode_step(self, self._greedy_steps) if backend.COMPILED_LOOPS else None
            fns = (backend.compile_prefill_step(self, self._step), backend.compile_decode_step(self, self._step), loop)
            object.__setattr__(self, "_keras_tfm_generation_steps", fns)  # prefill, decode, greedy chunk
        return fns

    def _greedy_chunks(self, cache, sequences, tokens, positions, key_valid, index, remaining, unfinished, eos, pad):
        """The rest of a plain greedy generation, ``DECODE_CHUNK`` tokens per compiled call."""
        loop = self._generation_steps()[2]
        eos_ids, pad = np.asarray(eos, np.int32), np.int32(pad or 0)
        while remaining > 0 and unfinished.any():
            steps = min(DECODE_CHUNK, remaining)
            chosen, cache = loop(cache, *(ops.convert_to_tensor(x) for x in (
                tokens.astype(np.int32), positions.astype(np.int32), key_valid, np.int32(index), unfinished, eos_ids,
                pad, np.int32(steps))))
            chosen = np.asarray(backend.to_numpy(chosen))[:, :steps].astype(np.int64)
            for token in chosen.T:  # HF stops at the step where the last row finished
                sequences = np.concatenate([sequences, token[:, None]], axis=1)
                unfinished &= ~np.isin(token, eos)
                if not unfinished.any():
                    break
            tokens, positions = chosen[:, -1:], positions + steps
            index, remaining = index + steps, remaining - steps
        return sequences

    def _run(self, fn, cache, ids, positions, key_valid, index):
        logits, cache = fn(cache, ops.convert_to_tensor(ids.astype(np.int32)),
                           ops.convert_to_tensor(positions.astype(np.int32)),
                           ops.convert_to_tensor(key_valid), ops.convert_to_tensor(np.int32(index)))
        return np.asarray(backend.to_numpy(logits), dtype=np.float32), list(cache)

    def _new_cache(self, batch, slots):
        layers, kv_heads, head_dim = self.backbone.cache_spec()
        return init_cache(layers, batch, slots, kv_heads, head_dim, self.dtype_policy.compute_dtype)

    # ---- generate -------------------------------------------------------------------------
    def generate(self, inputs=None, generation_config=None, logits_processor=None, stopping_criteria=None,
                 streamer=None, tokenizer=None, **kwargs):
        """Generates token ids for a prompt, as ``transformers``' ``generate`` does.

        Args:
            inputs / input_ids: prompt ids ``(batch, length)`` (numpy, list or backend tensor),
                left-padded for batches.
            attention_mask: 1 for real tokens, 0 for padding.
            generation_config: a ``GenerationConfig``; by default the model's own
                (``generation_config.json`` when loaded with ``from_pretrained``).
            streamer: a ``TextStreamer`` / ``TextIteratorStreamer`` (greedy and sampling).
            tokenizer: needed for ``stop_strings``.
            **kwargs: fields of ``GenerationConfig`` (``max_new_tokens``, ``do_sample``,
                ``top_k``, ``num_beams``...); anything else is an error.

        Returns:
            The sequences (prompt + new tokens) as a backend int tensor, or with
            ``return_dict_in_generate=True`` an output with ``sequences`` and, on request,
            ``scores`` / ``logits`` (numpy, one ``(batch, vocab)`` array per step).
        """
        input_ids = kwargs.pop("input_ids", None) if inputs is None else inputs
        attention_mask = kwargs.pop("attention_mask", None)
        token_type_ids = kwargs.pop("token_type_ids", None)
        if token_type_ids is not None and np.any(np.asarray(backend.to_numpy(token_type_ids))):
            raise ValueError(f"{type(self).__name__}.generate does not take token_type_ids.")
        if logits_processor or stopping_criteria:
            raise NotImplementedError("Custom logits_processor / stopping_criteria lists are not supported yet.")
        gc = copy.deepcopy(generation_config if generation_config is not None else self.generation_config)
        if not isinstance(gc, GenerationConfig):
            raise TypeError(f"generation_config must be a GenerationConfig, got {type(gc).__name__}.")
        unused = gc.update(**kwargs)
        if unused:
            raise ValueError(
                f"The following `model_kwargs` are not used by the model: {sorted(unused)} (note: typos in the "
                "generate arguments will also show up in this list)"
            )
        gc.validate()

        ids = _to_ids(input_ids, "input_ids")
        if ids is None:
            if gc.bos_token_id is None:
                raise ValueError("generate needs input_ids (or a bos_token_id to start from).")
            ids = np.array([[gc.bos_token_id]], np.int64)
        batch, length = ids.shape
        if length == 0:
            raise ValueError("generate: input_ids is empty; pass at least one token per row.")
        mask = np.ones_like(ids) if attention_mask is None else _to_ids(attention_mask, "attention_mask")
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}: they must match.")
        eos = _as_list(gc.eos_token_id)
        if gc.pad_token_id is None and eos:
            logger.warning("Setting `pad_token_id` to `eos_token_id`:%s for open-end generation.", eos[0])
            gc.pad_token_id = eos[0]
        if batch > 1 and np.any(mask[:, -1] == 0):
            logger.warning("A decoder-only architecture is being used, but right-padding was detected! For correct "
                           "generation results, please set `padding_side='left'` when initializing the tokenizer.")
        max_new = gc.max_new_tokens if gc.max_new_tokens is not None else gc.max_length - length
        if max_new <= 0:
            raise ValueError(
                f"Input length of input_ids is {length}, but `max_length` is set to {gc.max_length}: nothing is left "
                "to generate. Increase `max_length` or, better yet, set `max_new_tokens`."
            )
        limit = getattr(self.config, "max_position_embeddings", None)
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

        with backend.inference_mode():
            if gc.num_beams > 1:
                out = self._beam_search(ids, mask, gc, max_new, eos, stop)
            else:
                out = self._sample(ids, mask, gc, max_new, eos, stop, streamer)
        out["sequences"] = ops.convert_to_tensor(out["sequences"].astype(np.int32))
        if gc.return_dict_in_generate:
            return out
        return out["sequences"]

    def _prefill(self, ids, mask, max_new):
        batch, length = ids.shape
        slots = -(-(length + max_new) // CACHE_SLOT_MULTIPLE) * CACHE_SLOT_MULTIPLE
        key_valid = np.concatenate([mask, np.ones((batch, slots - length), mask.dtype)], axis=1).astype(np.int32)
        positions = np.cumsum(mask, axis=-1) - 1
        positions[mask == 0] = 0
        prefill = self._generation_steps()[0]
        logits, cache = self._run(prefill, self._new_cache(batch, slots), ids, positions, key_valid, 0)
        return logits, cache, key_valid, positions[:, -1].copy()

    def _sample(self, ids, mask, gc, max_new, eos, stop, streamer):
        """Greedy search, or multinomial sampling with ``do_sample=True``."""
        if gc.num_return_sequences > 1:
            ids, mask = np.repeat(ids, gc.num_return_sequences, 0), np.repeat(mask, gc.num_return_sequences, 0)
        batch, length = ids.shape
        processors = lp.build_processors(gc, length, (mask != 0).argmax(axis=1), eos)
        if streamer is not None:
            streamer.put(ids)
        logits, cache, key_valid, last_pos = self._prefill(ids, mask, max_new)
        decode = self._generation_steps()[1]
        on_device = (backend.COMPILED_LOOPS and not gc.do_sample and not processors and stop is None
                     and streamer is None and not gc.output_scores and not gc.output_logits)
        unfinished = np.ones(batch, bool)
        scores, raw = [], []
        sequences = ids
        for step in range(max_new):
            processed = processors(sequences, logits)
            if gc.output_scores:
                scores.append(processed)
            if gc.output_logits:
                raw.append(logits)
            next_tokens = lp.sample(processed) if gc.do_sample else np.argmax(processed, axis=-1)
            if gc.pad_token_id is not None:
                next_tokens = np.where(unfinished, next_tokens, gc.pad_token_id)
            sequences = np.concatenate([sequences, next_tokens[:, None].astype(np.int64)], axis=1)
            if streamer is not None:
                streamer.put(next_tokens)
            done = np.isin(next_tokens, eos) if eos else np.zeros(batch, bool)
            if stop is not None:
                done |= stop(sequences)
            unfinished &= ~done
            if not unfinished.any() or step == max_new - 1:
                break
            last_pos += 1
            if on_device:
                sequences = self._greedy_chunks(cache, sequences, next_tokens[:, None], last_pos[:, None], key_valid,
                                                length + step, max_new - step - 1, unfinished, eos, gc.pad_token_id)
                break
            logits, cache = self._run(decode, cache, next_tokens[:, None], last_pos[:, None], key_valid, length + step)
        if streamer is not None:
            streamer.end()
        return GenerateDecoderOnlyOutput(sequences=sequences, scores=tuple(scores) if gc.output_scores else None,
                                         logits=tuple(raw) if gc.output_logits else None)

    def _beam_search(self, ids, mask, gc, max_new, eos, stop):
        """Beam search, step for step as transformers 5 computes it (``GenerationMixin._beam_search``)."""
        num_beams, batch, prompt_len = gc.num_beams, ids.shape[0], ids.shape[1]
        ids, mask = np.repeat(ids, num_beams, 0), np.repeat(mask, num_beams, 0)
        max_length = prompt_len + max_new
        length_penalty, early_stopping = gc.length_penalty, gc.early_stopping
        processors = lp.build_processors(gc, prompt_len, (mask != 0).argmax(axis=1), eos)
        beams_to_keep = max(2, 1 + len(eos)) * num_beams
        top_num_beam_mask = np.arange(beams_to_keep) < num_beams
        fill = (gc.pad_token_id or eos[0]) if eos else -1

        running = np.full((batch, num_beams, max_length), fill, np.int64)
        running[:, :, :prompt_len] = ids.reshape(batch, num_beams, prompt_len)
        sequences = running.copy()
        running_scores = np.zeros((batch, num_beams), np.float32)
        running_scores[:, 1:] = -1e9
        beam_scores = np.full((batch, num_beams), -1e9, np.float32)
        finished = np.zeros((batch, num_beams), bool)
        heuristic_unsatisfied = np.ones((batch, 1), bool)
        running_indices = np.full((batch, num_beams, max_length - prompt_len), -1, np.int64)
        beam_indices = running_indices.copy()
        scores, raw = [], []

        logits, cache, key_valid, last_pos = self._prefill(ids, mask, max_new)
        decode = self._generation_steps()[1]
        cur_len = prompt_len
        b_idx = np.arange(batch)[:, None]
        while True:
            flat = running[:, :, :cur_len].reshape(batch * num_beams, cur_len)
            log_probs = processors(flat, lp.log_softmax(logits).astype(np.float32))
            if gc.output_scores:
                scores.append(log_probs)
            if gc.output_logits:
                raw.append(logits)
            vocab = log_probs.shape[-1]
            acc = (log_probs.reshape(batch, num_beams, vocab) + running_scores[:, :, None]).reshape(batch, -1)
            if gc.do_sample:
                probs = lp.softmax(acc.astype(np.float64))
                topk_idx = np.stack([np.random.choice(acc.shape[1], beams_to_keep, replace=False, p=p / p.sum())
                                     for p in probs])
            else:
                topk_idx = np.argsort(-acc, axis=1, kind="stable")[:, :beams_to_keep]
            topk_log_probs = np.take_along_axis(acc, topk_idx, axis=1)
            beam_of = topk_idx // vocab
            topk_running_indices = running_indices[b_idx, beam_of]
            topk_running = running[b_idx, beam_of]
            topk_running[:, :, cur_len] = topk_idx % vocab
            topk_running_indices[:, :, cur_len - prompt_len] = beam_of + b_idx * num_beams

            candidates = topk_running[:, :, :cur_len + 1].reshape(batch * beams_to_keep, cur_len + 1)
            hits = np.full(batch * beams_to_keep, cur_len + 1 >= max_length)
            if eos:
                hits |= np.isin(candidates[:, -1], eos)
            if stop is not None:
                hits |= stop(candidates)
            hits = hits.reshape(batch, beams_to_keep)

            # running beams for the next step: the best candidates that did not stop
            topk_running_log_probs = topk_log_probs + hits.astype(np.float32) * np.float32(-1.0e9)
            nxt = np.argsort(-topk_running_log_probs, axis=1, kind="stable")[:, :num_beams]
            running = topk_running[b_idx, nxt]
            running_scores = np.take_along_axis(topk_running_log_probs, nxt, axis=1)
            running_indices = topk_running_indices[b_idx, nxt]

            # finished beams: merge the candidates that just stopped (among the top num_beams)
            just_finished = hits & top_num_beam_mask[None, :]
            fin_scores = topk_log_probs / np.float32((cur_len + 1 - prompt_len) ** length_penalty)
            full = np.all(finished, axis=-1, keepdims=True) & (early_stopping is True)
            fin_scores = fin_scores + full.astype(np.float32) * np.float32(-1.0e9)
            fin_scores = fin_scores + (~heuristic_unsatisfied).astype(np.float32) * np.float32(-1.0e9)
            fin_scores = fin_scores + (~just_finished).astype(np.float32) * np.float32(-1.0e9)
            merged_seq = np.concatenate([sequences, topk_running], axis=1)
            merged_scores = np.concatenate([beam_scores, fin_scores.astype(np.float32)], axis=1)
            merged_idx = np.concatenate([beam_indices, topk_running_indices], axis=1)
            merged_fin = np.concatenate([finished, just_finished], axis=1)
            keep = np.argsort(-merged_scores, axis=1, kind="stable")[:, :num_beams]
            sequences, beam_scores = merged_seq[b_idx, keep], np.take_along_axis(merged_scores, keep, axis=1)
            beam_indices, finished = merged_idx[b_idx, keep], np.take_along_axis(merged_fin, keep, axis=1)

            cur_len += 1
            if early_stopping == "never" and length_penalty > 0.0:
                best_len = max_length - prompt_len
            else:
                best_len = cur_len - prompt_len
            best_running = running_scores[:, :1] / np.float32(best_len ** length_penalty)
            worst_finished = np.where(finished, beam_scores.min(axis=1, keepdims=True), np.float32(-1.0e9))
            heuristic_unsatisfied = heuristic_unsatisfied & np.any(best_running > worst_finished, axis=-1,
                                                                   keepdims=True)
            go_on = (heuristic_unsatisfied.any() and not (finished.all() and early_stopping is True)
                     and not hits.all())
            if not go_on:
                break
            # reorder the cache to the surviving beams, then feed their last tokens
            cache = reorder_cache(cache, running_indices[:, :, cur_len - 1 - prompt_len].reshape(-1))
            last_pos += 1
            tokens = running[:, :, cur_len - 1].reshape(-1, 1)
            logits, cache = self._run(decode, cache, tokens, last_pos[:, None], key_valid, cur_len - 1)

        n = gc.num_return_sequences
        sequences = sequences[:, :n].reshape(batch * n, -1)
        seq_scores = beam_scores[:, :n].reshape(-1)
        beam_indices = beam_indices[:, :n].reshape(batch * n, -1)
        generated = int((beam_indices + 1).astype(bool).sum(axis=1).max())
        return GenerateBeamDecoderOnlyOutput(
            sequences=sequences[:, :prompt_len + generated],
            sequences_scores=seq_scores if gc.output_scores else None,
            scores=tuple(scores) if gc.output_scores else None,
            logits=tuple(raw) if gc.output_logits else None,
            beam_indices=beam_indices[:, :generated] if gc.return_dict_in_generate else None,
        )
