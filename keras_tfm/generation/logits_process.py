"""Logits processors and warpers, on the host in numpy float32, as Hugging Face computes them.

Each is a callable ``(input_ids (B, L) int64, scores (B, V) float32) -> scores`` (the n-gram
bans write into ``scores``, which the search loops own; the others return a new array). The
decode step runs compiled on the backend; choosing the next token is cheap and identical
on every backend this way, and seeded sampling draws from numpy's global generator
(``keras.utils.set_random_seed`` seeds it).
"""

import logging

import numpy as np

logger = logging.getLogger(__name__)

NEG_INF = -np.inf


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    total = np.sum(np.exp(shifted), axis=-1, keepdims=True)
    shifted -= np.log(total)  # in place: a beam step's (rows, vocab) array is megabytes
    return shifted


def ban(scores, banned):
    """``scores`` with ``banned`` (one list of token ids per row) at -inf, written in place (the
    search loops pass arrays they own; a beam step's are megabytes)."""
    for i, tokens in enumerate(banned):
        if tokens:
            scores[i, tokens] = NEG_INF
    return scores


class LogitsProcessorList(list):
    def __call__(self, input_ids, scores):
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class RepetitionPenaltyLogitsProcessor:
    """Divides positive (multiplies negative) scores of tokens already present; left padding ignored."""

    def __init__(self, penalty, prompt_ignore_length=None):
        self.penalty, self.prompt_ignore_length = float(penalty), prompt_ignore_length

    def __call__(self, input_ids, scores):
        scores = scores.copy()
        for i in range(scores.shape[0]):
            start = 0 if self.prompt_ignore_length is None else int(self.prompt_ignore_length[i])
            ids = np.unique(input_ids[i, start:])
            s = scores[i, ids]
            scores[i, ids] = np.where(s < 0, s * self.penalty, s / self.penalty).astype(scores.dtype)
        return scores


class NoRepeatNGramLogitsProcessor:
    def __init__(self, ngram_size):
        if not isinstance(ngram_size, int) or ngram_size <= 0:
            raise ValueError(f"`no_repeat_ngram_size` has to be a strictly positive integer, but is {ngram_size}")
        self.n = ngram_size

    def __call__(self, input_ids, scores):
        n, cur_len = self.n, input_ids.shape[1]
        if cur_len + 1 < n:
            return scores
        rows = input_ids.tolist()
        return ban(scores, [_ngram_table(tokens, n).get(tuple(tokens[cur_len + 1 - n:cur_len]), [])
                            for tokens in rows])


class NoBadWordsLogitsProcessor:
    def __init__(self, bad_words_ids, eos_token_id=None):
        if not isinstance(bad_words_ids, list) or not bad_words_ids or not all(
                isinstance(w, (list, tuple)) and w and all(isinstance(t, (int, np.integer)) and t >= 0 for t in w)
                for w in bad_words_ids):
            raise ValueError(f"`bad_words_ids` has to be a non-empty list of lists of positive integers, "
                             f"but is {bad_words_ids!r}.")
        eos = [[e] for e in (eos_token_id or [])]
        self.words = [list(w) for w in bad_words_ids if list(w) not in eos]

    def __call__(self, input_ids, scores):
        scores = scores.copy()
        for i in range(scores.shape[0]):
            tokens = input_ids[i].tolist()
            for word in self.words:
                prefix = word[:-1]
                if not prefix or tokens[len(tokens) - len(prefix):] == prefix:
                    scores[i, word[-1]] = NEG_INF
        return scores


def _ngram_table(tokens, n):
    """``{the n - 1 tokens before: [the tokens that followed them]}`` over ``tokens`` (a list)."""
    table = {}
    for j in range(len(tokens) - n + 1):
        table.setdefault(tuple(tokens[j:j + n - 1]), []).append(tokens[j + n - 1])
    return table


class EncoderNoRepeatNGramLogitsProcessor:
    """Bans the tokens that would repeat an n-gram of the row's encoder input (padding included,
    as HF reads the ids). Rows are the encoder's rows, each repeated ``rows // batch`` times."""

    def __init__(self, encoder_ngram_size, encoder_input_ids):
        if not isinstance(encoder_ngram_size, int) or encoder_ngram_size <= 0:
            raise ValueError(f"`encoder_ngram_size` has to be a strictly positive integer, but is "
                             f"{encoder_ngram_size}")
        self.n = encoder_ngram_size
        ids = np.asarray(encoder_input_ids)
        self.tables = [_ngram_table(row.tolist(), self.n) for row in (ids[None] if ids.ndim == 1 else ids)]

    def __call__(self, input_ids, scores):
        copies = scores.shape[0] // len(self.tables)
        cur_len = input_ids.shape[1]
        # HF's slice: shorter than n - 1 tokens (so no match) while cur_len < n - 1
        return ban(scores, [self.tables[i // copies].get(tuple(tokens[cur_len + 1 - self.n:cur_len]), [])
                            for i, tokens in enumerate(input_ids.tolist())])


class _ForcedTokensAtLength:
    """When the rows are ``at_length`` long, only ``tokens`` are possible (score 0, the rest -inf)."""

    at_length, tokens = None, ()

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] != self.at_length:
            return scores
        forced = np.full_like(scores, NEG_INF)
        forced[:, self.tokens] = 0
        return forced


class ForcedBOSTokenLogitsProcessor(_ForcedTokensAtLength):
    """At the first generated position of a 1-token start, only ``bos_token_id`` is possible."""

    def __init__(self, bos_token_id):
        self.at_length, self.tokens = 1, [bos_token_id]


class ForcedEOSTokenLogitsProcessor(_ForcedTokensAtLength):
    """At the last position ``max_length`` allows (the rows are ``max_length - 1`` long), only eos."""

    def __init__(self, max_length, eos_token_id):
        eos = [eos_token_id] if isinstance(eos_token_id, (int, np.integer)) else list(eos_token_id)
        if not eos or any(not isinstance(e, (int, np.integer)) or e < 0 for e in eos):
            raise ValueError(f"`eos_token_id` has to be a list of positive integers, but is {eos_token_id}")
        self.at_length, self.tokens = max_length - 1, eos


class MinLengthLogitsProcessor:
    def __init__(self, min_length, eos_token_id):
        self.min_length, self.eos = min_length, list(eos_token_id)

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] < self.min_length:
            scores = scores.copy()
            scores[:, self.eos] = NEG_INF
        return scores


class MinNewTokensLengthLogitsProcessor:
    def __init__(self, prompt_length, min_new_tokens, eos_token_id):
        self.prompt_length, self.min_new_tokens, self.eos = prompt_length, min_new_tokens, list(eos_token_id)

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] - self.prompt_length < self.min_new_tokens:
            scores = scores.copy()
            scores[:, self.eos] = NEG_INF
        return scores


class TemperatureLogitsWarper:
    def __init__(self, temperature):
        self.temperature = float(temperature)

    def __call__(self, input_ids, scores):
        return (scores / np.float32(self.temperature)).astype(np.float32)


class TopKLogitsWarper:
    def __init__(self, top_k, min_tokens_to_keep=1):
        self.top_k = max(int(top_k), min_tokens_to_keep)

    def __call__(self, input_ids, scores):
        k = min(self.top_k, scores.shape[-1])
        kth = -np.partition(-scores, k - 1, axis=-1)[:, k - 1:k]
        return np.where(scores < kth, NEG_INF, scores).astype(np.float32)


class TopPLogitsWarper:
    def __init__(self, top_p, min_tokens_to_keep=1):
        self.top_p, self.min_tokens_to_keep = float(top_p), min_tokens_to_keep

    def __call__(self, input_ids, scores):
        order = np.argsort(scores, axis=-1, kind="stable")  # ascending
        sorted_scores = np.take_along_axis(scores, order, axis=-1)
        cumulative = np.cumsum(softmax(sorted_scores), axis=-1)
        remove_sorted = cumulative <= (1 - self.top_p)
        remove_sorted[:, -self.min_tokens_to_keep:] = False
        remove = np.zeros_like(remove_sorted)
        np.put_along_axis(remove, order, remove_sorted, axis=-1)
        return np.where(remove, NEG_INF, scores).astype(np.float32)


class MinPLogitsWarper:
    def __init__(self, min_p, min_tokens_to_keep=1):
        self.min_p, self.min_tokens_to_keep = float(min_p), min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probs = softmax(scores)
        remove = probs < self.min_p * probs.max(axis=-1, keepdims=True)
        order = np.argsort(-scores, axis=-1, kind="stable")[:, :self.min_tokens_to_keep]
        np.put_along_axis(remove, order, False, axis=-1)
        return np.where(remove, NEG_INF, scores).astype(np.float32)


class SuppressTokensLogitsProcessor:
    """``suppress_tokens`` are never generated (score -inf)."""

    def __init__(self, suppress_tokens):
        self.suppress_tokens = [int(t) for t in suppress_tokens]

    def __call__(self, input_ids, scores):
        tokens = [t for t in self.suppress_tokens if 0 <= t < scores.shape[-1]]  # HF's isin ignores the others
        scores = scores.copy()
        scores[:, tokens] = NEG_INF
        return scores


class SuppressTokensAtBeginLogitsProcessor:
    """``begin_suppress_tokens`` are not generated at the first generated position, where the rows
    are ``begin_index`` long (Whisper's blank and eos)."""

    def __init__(self, begin_suppress_tokens, begin_index):
        self.begin_suppress_tokens = [int(t) for t in begin_suppress_tokens]
        self.begin_index = begin_index

    def set_begin_index(self, begin_index):
        self.begin_index = begin_index

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.begin_index:
            return scores
        return SuppressTokensLogitsProcessor(self.begin_suppress_tokens)(input_ids, scores)


class WhisperTimeStampLogitsProcessor:
    """Whisper's timestamp rules (HF's processor of the same name, after openai/whisper):
    ``<|notimestamps|>`` never; timestamps in pairs (after a pair, text; after a lone timestamp,
    another or eos); never decreasing (no repeat of the last paired one); the first generated
    token a timestamp of index at most ``max_initial_timestamp_index``; and a timestamp whenever
    the timestamps' total probability beats every text token's.

    Args:
        generate_config: with ``no_timestamps_token_id`` (timestamps are the ids after it),
            ``eos_token_id`` (else ``bos_token_id``) and optionally ``max_initial_timestamp_index``.
        begin_index: the rows' length when generation starts (the decoder prompt's).
    """

    def __init__(self, generate_config, begin_index, _detect_timestamp_from_logprob=None):
        if begin_index is None:
            raise ValueError("WhisperTimeStampLogitsProcessor needs begin_index (the decoder prompt's length).")
        self.no_timestamps_token_id = generate_config.no_timestamps_token_id
        self.timestamp_begin = generate_config.no_timestamps_token_id + 1
        eos = generate_config.eos_token_id or generate_config.bos_token_id
        self.eos_token_id = eos[0] if isinstance(eos, (list, tuple)) else eos
        self._detect_timestamp_from_logprob = (
            _detect_timestamp_from_logprob if _detect_timestamp_from_logprob is not None
            else getattr(generate_config, "_detect_timestamp_from_logprob", True))
        self.begin_index = begin_index
        self.max_initial_timestamp_index = getattr(generate_config, "max_initial_timestamp_index", None)

    def set_begin_index(self, begin_index):
        self.begin_index = begin_index

    def __call__(self, input_ids, scores):
        begin = self.timestamp_begin
        scores = scores.copy()
        scores[:, self.no_timestamps_token_id] = NEG_INF
        vocab = np.arange(scores.shape[-1])
        for k, seq in enumerate(input_ids.tolist()):
            seq = seq[self.begin_index:]
            last_was_timestamp = len(seq) >= 1 and seq[-1] >= begin
            penultimate_was_timestamp = len(seq) < 2 or seq[-2] >= begin
            if last_was_timestamp:
                if penultimate_was_timestamp:  # a pair just closed: text next
                    scores[k, begin:] = NEG_INF
                else:  # a lone timestamp: another one (or eos), no text
                    scores[k, :self.eos_token_id] = NEG_INF
            timestamp_last = begin
            timestamps = [t for t in seq if t >= begin]
            if timestamps:
                timestamp_last = timestamps[-1] if last_was_timestamp and not penultimate_was_timestamp \
                    else timestamps[-1] + 1  # no second <|0.00|>
            scores[k, (vocab >= begin) & (vocab < timestamp_last)] = NEG_INF
        if input_ids.shape[1] == self.begin_index:
            scores[:, :begin] = NEG_INF
            if self.max_initial_timestamp_index is not None:
                scores[:, begin + self.max_initial_timestamp_index + 1:] = NEG_INF
        if self._detect_timestamp_from_logprob:
            with np.errstate(invalid="ignore", divide="ignore"):
                logprobs = log_softmax(scores.astype(np.float32))
                timestamp_logprob = _logsumexp(logprobs[:, begin:])
                max_text = logprobs[:, :begin].max(axis=-1)
            scores[timestamp_logprob > max_text, :begin] = NEG_INF
        return scores


def _logsumexp(x):
    """Row-wise log(sum(exp(x))) of (B, N), -inf for rows of -inf only (torch's ``logsumexp``)."""
    top = np.max(x, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return (np.log(np.sum(np.exp(x - top), axis=-1, keepdims=True)) + top)[:, 0]


def merge_processors(default, custom):
    """HF's ``_merge_criteria_processor_list``: a custom processor replaces the default of the same
    type (in its place); the other custom ones follow the defaults."""
    if not custom:
        return default
    merged = LogitsProcessorList()
    for processor in default:
        replacement = next((c for c in custom if type(c) is type(processor)), None)
        merged.append(processor if replacement is None else replacement)
    merged.extend(c for c in custom if not any(c is m for m in merged))
    return merged


def build_processors(gc, prompt_length, padding_lengths, eos, max_length, encoder_input_ids=None, custom=None):
    """HF's ``_get_logits_processor``, its order and conditions: penalties and bans, length
    constraints, forced tokens, then (sampling) the warpers.

    Args:
        gc: the request's ``GenerationConfig``.
        prompt_length: the length of the rows decoding starts from (an encoder-decoder's
            decoder start, ``decoder_start_token_id`` included).
        padding_lengths: each row's left padding (None: no prompt padding to skip).
        eos: the eos ids (a list).
        max_length: the full length the rows may reach (``ForcedEOSTokenLogitsProcessor``).
        encoder_input_ids: an encoder-decoder's input ids (B, S), one row per input.
        custom: the caller's processors (``generate(logits_processor=...)``), merged as HF does.
    """
    p = LogitsProcessorList()
    if gc.repetition_penalty is not None and gc.repetition_penalty != 1.0:
        p.append(RepetitionPenaltyLogitsProcessor(gc.repetition_penalty, padding_lengths))
    if gc.no_repeat_ngram_size:
        p.append(NoRepeatNGramLogitsProcessor(gc.no_repeat_ngram_size))
    if gc.encoder_no_repeat_ngram_size:
        if encoder_input_ids is None:
            logger.warning("Passing `encoder_no_repeat_ngram_size` requires some form of `input_ids` to be passed "
                           "to `generate`, ignoring the argument.")
        else:
            p.append(EncoderNoRepeatNGramLogitsProcessor(gc.encoder_no_repeat_ngram_size, encoder_input_ids))
    if gc.bad_words_ids is not None:
        p.append(NoBadWordsLogitsProcessor(gc.bad_words_ids, eos))
    if eos and gc.min_length:
        p.append(MinLengthLogitsProcessor(gc.min_length, eos))
    if eos and gc.min_new_tokens:
        p.append(MinNewTokensLengthLogitsProcessor(prompt_length, gc.min_new_tokens, eos))
    if gc.forced_bos_token_id is not None:
        p.append(ForcedBOSTokenLogitsProcessor(gc.forced_bos_token_id))
    if gc.forced_eos_token_id is not None:
        p.append(ForcedEOSTokenLogitsProcessor(max_length, gc.forced_eos_token_id))
    if getattr(gc, "suppress_tokens", None) is not None:
        p.append(SuppressTokensLogitsProcessor(gc.suppress_tokens))
    if getattr(gc, "begin_suppress_tokens", None) is not None:
        # HF: one position later when a 1-token start is followed by a forced BOS
        begin = prompt_length if prompt_length > 1 or gc.forced_bos_token_id is None else prompt_length + 1
        p.append(SuppressTokensAtBeginLogitsProcessor(gc.begin_suppress_tokens, begin))
    p = merge_processors(p, list(custom or ()))
    if gc.do_sample:
        keep = 2 if gc.num_beams > 1 else 1
        if gc.temperature is not None and gc.temperature != 1.0:
            p.append(TemperatureLogitsWarper(gc.temperature))
        if gc.top_k:
            p.append(TopKLogitsWarper(gc.top_k, keep))
        if gc.top_p is not None and gc.top_p < 1.0:
            p.append(TopPLogitsWarper(gc.top_p, keep))
        if gc.min_p is not None:
            p.append(MinPLogitsWarper(gc.min_p, keep))
    return p


def sample(scores):
    """One token per row from softmax(scores), with numpy's global generator."""
    probs = softmax(scores.astype(np.float64))
    cdf = np.cumsum(probs, axis=-1)
    u = np.random.random_sample((scores.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf < u).sum(axis=-1), scores.shape[-1] - 1)
