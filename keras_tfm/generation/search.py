"""The search loops of ``generate()``, written once against a ``DecodingSession``.

Choosing tokens (processors, sampling, beam bookkeeping) runs on the host in numpy, as
Hugging Face computes it; the session runs the model. Plain greedy decoding (no processor,
score output, streamer or stop string) on a backend that compiles loops runs up to
``DECODE_CHUNK`` steps per compiled call instead, picking each token by argmax on the
device (a host round trip per token costs about as much as a small model's step).
"""

import numpy as np

from keras_tfm.generation import logits_process as lp
from keras_tfm.generation.steppers import DECODE_CHUNK
from keras_tfm.modeling_outputs import ModelOutput


class GenerateDecoderOnlyOutput(ModelOutput):
    fields = ("sequences", "scores", "logits", "past_key_values")


class GenerateBeamDecoderOnlyOutput(ModelOutput):
    fields = ("sequences", "sequences_scores", "scores", "logits", "beam_indices", "past_key_values")


_ENCODER_DECODER_FIELDS = ("encoder_attentions", "encoder_hidden_states", "decoder_attentions", "cross_attentions",
                           "decoder_hidden_states", "past_key_values")


class GenerateEncoderDecoderOutput(ModelOutput):
    fields = ("sequences", "scores", "logits") + _ENCODER_DECODER_FIELDS


class GenerateBeamEncoderDecoderOutput(ModelOutput):
    fields = ("sequences", "sequences_scores", "scores", "logits", "beam_indices") + _ENCODER_DECODER_FIELDS


def as_encoder_decoder_output(out, **fields):
    """A search loop's output as HF's encoder-decoder output class, with ``fields`` added."""
    kind = GenerateBeamEncoderDecoderOutput if isinstance(out, GenerateBeamDecoderOnlyOutput) else \
        GenerateEncoderDecoderOutput
    return kind(**dict(out), **fields)


def top_k(x, k):
    """Each row's ``k`` largest entries of ``x`` (B, N), largest first, ties to the lower index:
    ``np.argsort(-x, kind="stable")[:, :k]`` without sorting whole rows (a beam step ranks
    beams x vocab candidates, 200k for BART's: a full sort cost 30x the partition)."""
    if k >= x.shape[1]:
        return np.argsort(-x, axis=1, kind="stable")[:, :k]
    kth = -np.partition(-x, k - 1, axis=1)[:, k - 1]
    chosen = np.empty((x.shape[0], k), np.int64)
    for i, row in enumerate(x):
        candidates = np.flatnonzero(row >= kth[i])  # ascending indices: the stable sort keeps ties in order
        chosen[i] = candidates[np.argsort(-row[candidates], kind="stable")[:k]]
    return chosen


def _processors(gc, session, prompt, max_new, eos, custom=None):
    length = prompt.shape[1]
    return lp.build_processors(gc, length, session.prompt_padding, eos, length + max_new, session.encoder_input_ids,
                               custom)


def greedy_chunks(session, sequences, tokens, remaining, unfinished, eos, pad):
    """The rest of a plain greedy generation, ``DECODE_CHUNK`` tokens per compiled call."""
    eos_ids = np.asarray(eos, np.int32)
    while remaining > 0 and unfinished.any():
        steps = min(DECODE_CHUNK, remaining)
        chosen = session.greedy_chunk(tokens, steps, unfinished, eos_ids, pad)
        for token in chosen.T:  # HF stops at the step where the last row finished
            sequences = np.concatenate([sequences, token[:, None]], axis=1)
            unfinished &= ~np.isin(token, eos)
            if not unfinished.any():
                break
        tokens, remaining = chosen[:, -1:], remaining - steps
    return sequences


def sample(stepper, inputs, gc, max_new, eos, stop, streamer, custom=None):
    """Greedy search, or multinomial sampling with ``do_sample=True``.

    ``inputs``: the stepper's ``start`` arguments (the prompt, or an encoder-decoder's input and
    decoder prompt), one row per input.
    """
    logits, session, sequences = stepper.start(max_new, expand=gc.num_return_sequences, **inputs)
    batch = sequences.shape[0]
    processors = _processors(gc, session, sequences, max_new, eos, custom)
    if streamer is not None:
        streamer.put(sequences)
    on_device = (session.can_loop_on_device and not gc.do_sample and not processors and stop is None
                 and streamer is None and not gc.output_scores and not gc.output_logits)
    unfinished = np.ones(batch, bool)
    scores, raw = [], []
    for step in range(max_new):
        processed = processors(sequences, logits.copy() if gc.output_logits else logits)
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
        if on_device:
            sequences = greedy_chunks(session, sequences, next_tokens[:, None], max_new - step - 1, unfinished, eos,
                                      gc.pad_token_id)
            break
        logits = session.step(next_tokens[:, None])
    if streamer is not None:
        streamer.end()
    return GenerateDecoderOnlyOutput(sequences=sequences, scores=tuple(scores) if gc.output_scores else None,
                                     logits=tuple(raw) if gc.output_logits else None)


def beam_search(stepper, inputs, gc, max_new, eos, stop, custom=None):
    """Beam search, step for step as transformers 5 computes it (``GenerationMixin._beam_search``)."""
    num_beams = gc.num_beams
    logits, session, prompt = stepper.start(max_new, expand=num_beams, **inputs)
    batch, prompt_len = prompt.shape[0] // num_beams, prompt.shape[1]
    max_length = prompt_len + max_new
    length_penalty, early_stopping = gc.length_penalty, gc.early_stopping
    processors = _processors(gc, session, prompt, max_new, eos, custom)
    beams_to_keep = max(2, 1 + len(eos)) * num_beams
    top_num_beam_mask = np.arange(beams_to_keep) < num_beams
    fill = (gc.pad_token_id or eos[0]) if eos else -1

    running = np.full((batch, num_beams, max_length), fill, np.int64)
    running[:, :, :prompt_len] = prompt.reshape(batch, num_beams, prompt_len)
    sequences = running.copy()
    running_scores = np.zeros((batch, num_beams), np.float32)
    running_scores[:, 1:] = -1e9
    beam_scores = np.full((batch, num_beams), -1e9, np.float32)
    finished = np.zeros((batch, num_beams), bool)
    heuristic_unsatisfied = np.ones((batch, 1), bool)
    running_indices = np.full((batch, num_beams, max_length - prompt_len), -1, np.int64)
    beam_indices = running_indices.copy()
    scores, raw = [], []

    cur_len = prompt_len
    b_idx = np.arange(batch)[:, None]
    while True:
        flat = running[:, :, :cur_len].reshape(batch * num_beams, cur_len)
        log_probs = processors(flat, lp.log_softmax(logits).astype(np.float32, copy=False))
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
            topk_idx = top_k(acc, beams_to_keep)
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
        session.reorder(running_indices[:, :, cur_len - 1 - prompt_len].reshape(-1))
        logits = session.step(running[:, :, cur_len - 1].reshape(-1, 1))

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
