"""Whisper's ASR decoding: the token ids of one or more audio chunks -> text and timestamped segments.

The speech-recognition pipeline runs Whisper on overlapping 30-second chunks of long audio;
``decode_asr`` joins their token sequences into the output of transformers' pipeline (its
``WhisperTokenizer._decode_asr``; here a function over any Whisper tokenizer, ours or HF's):

- with timestamps, text is cut into segments at Whisper's end-timestamp tokens. A chunk's
  timestamps inside its strides (the audio it shares with its neighbours) do not cut: the
  neighbour sees that audio with more context, and the token runs that the overlap produced
  twice are joined by ``find_longest_common_sequence``;
- without timestamps, the chunks' token runs are joined the same way into one text;
- a language token sets the language of the segment (``return_language``); without
  timestamps a change of language also closes the segment.

The output is ``(text, {"chunks": [{"text", "timestamp", "language"}]})``, or ``(text, {})``
when neither timestamps nor languages were asked for.
"""

import logging

import numpy as np

logger = logging.getLogger(__name__)


def decode_asr(tokenizer, model_outputs, *, return_timestamps, return_language, time_precision, segment_size=1500):
    """Text (and segments) of Whisper's outputs for the chunks of one audio input.

    Args:
        tokenizer: a Whisper tokenizer (``all_special_ids``, ``convert_tokens_to_ids``, ``decode``,
            ``_strip_prompt``).
        model_outputs: one dict per chunk, in order: ``"tokens"`` (a (1, length) array of generated
            ids) and, for a chunk of long audio, ``"stride"`` = (chunk length, left stride, right
            stride) in seconds.
        return_timestamps: True for segment timestamps ("word" is not supported: it needs Whisper's
            cross-attention token timestamps).
        return_language: add each segment's language (the name of its language token).
        time_precision: seconds per timestamp token (the extractor's chunk_length / max_source_positions).
        segment_size: timestamp positions in one generate window (for outputs that concatenate windows).

    Returns:
        ``(text, extra)``: ``extra`` is ``{"chunks": [...]}`` when timestamps or languages were asked for.
    """
    if return_timestamps == "word":
        raise NotImplementedError("Whisper word-level timestamps (return_timestamps='word') need cross-attention "
                                  "token timestamps, which keras_tfm's Whisper does not compute; use "
                                  "return_timestamps=True for segment timestamps.")
    joiner = _SegmentJoiner(tokenizer, bool(return_timestamps), time_precision, segment_size)
    for output in model_outputs:
        joiner.add_chunk(np.asarray(output["tokens"])[0].tolist(), output.get("stride"))
    segments = joiner.finish()

    text = "".join(segment["text"] for segment in segments)
    if not (return_timestamps or return_language):
        return text, {}
    for segment in segments:
        if return_timestamps:
            segment["timestamp"] = tuple(segment["timestamp"])
        else:
            del segment["timestamp"]
        if not return_language:
            del segment["language"]
    return text, {"chunks": segments}


class _SegmentJoiner:
    """Reads the chunks' tokens in order and collects segments.

    ``runs`` holds the text-token runs of the open segment, one per chunk that contributed to it;
    closing the segment joins them (``find_longest_common_sequence``) and decodes the result.
    ``offset`` is the audio time (s) at which the current chunk's timestamp 0 lies.
    """

    def __init__(self, tokenizer, timestamps, time_precision, segment_size):
        from keras_tfm.processing.tokenization_whisper import LANGUAGES

        self.tokenizer, self.timestamps = tokenizer, timestamps
        self.time_precision, self.segment_size = time_precision, segment_size
        self.languages = LANGUAGES
        self.special_ids = set(tokenizer.all_special_ids)
        self.first_timestamp_id = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1
        self.prompt_id = tokenizer.convert_tokens_to_ids("<|startofprev|>")
        self.start_id = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
        self.segments, self.runs, self.language = [], [], None
        self.segment = self._new_segment()
        self.offset = 0.0
        self.skipping = False  # inside a span cut by a right stride (it may continue into the next chunk)

    def _new_segment(self):
        return {"language": self.language, "timestamp": [None, None], "text": ""}

    def _close_segment(self):
        self.segment["text"] = self.tokenizer.decode(find_longest_common_sequence(self.runs))
        self.segments.append(self.segment)
        self.runs = []
        self.segment = self._new_segment()

    def add_chunk(self, token_ids, stride):
        token_ids = self.tokenizer._strip_prompt(token_ids, self.prompt_id, self.start_id)
        lowest_id, right_cut_id = self.first_timestamp_id, None
        if stride is not None:
            length, left, right = stride
            self.offset -= left
            if left:  # timestamps before this are the left neighbour's audio
                lowest_id = left / self.time_precision + self.first_timestamp_id
            if right:
                right_cut_id = self._right_cut(token_ids, length - right)

        clock = _WindowClock(self.time_precision, self.segment_size)
        run = []
        for i, token in enumerate(token_ids):
            if token in self.special_ids:
                self._on_special(token, run)
            elif token >= self.first_timestamp_id:
                step = token - self.first_timestamp_id
                after_pair = token_ids[i - 1] >= self.first_timestamp_id and token_ids[i - 2] >= self.first_timestamp_id
                single_ending = i >= 2 and not after_pair
                time = round(step * self.time_precision + self.offset + clock.advance(step, single_ending), 2)
                if self._on_timestamp(token, time, lowest_id, right_cut_id, run):
                    run = []
            else:
                run.append(token)

        if stride is not None:
            self.offset += length - right
        if run:
            self.runs.append(run)
        elif not any(self.runs):  # nothing carried over: start the next chunk afresh
            self.segment, self.runs = self._new_segment(), []

    def _right_cut(self, token_ids, right_stride_start):
        """The timestamp id from which this chunk's timestamps are left to the next chunk: the last
        timestamp, or the earliest of those at or after ``right_stride_start`` (seconds) that run
        unbroken back from it."""
        cut = None
        for token in reversed(token_ids):
            if token < self.first_timestamp_id:
                continue
            if cut is not None and (token - self.first_timestamp_id) * self.time_precision < right_stride_start:
                break
            cut = token
        return cut

    def _on_special(self, token, run):
        language = self.languages.get(self.tokenizer.decode([token])[2:-2])
        if language is None:  # another special token: ignored
            return
        if self.language and language != self.language and not self.timestamps:
            self.runs.append(list(run))
            run.clear()
            self._close_segment()
        self.segment["language"] = language
        self.language = language

    def _on_timestamp(self, token, time, lowest_id, right_cut_id, run):
        """Applies one timestamp; True when it closed the segment (its text run is consumed)."""
        if right_cut_id and token >= right_cut_id:
            self.skipping = True  # the next chunk resolves this span
            return False
        if self.skipping or (self.runs and token < lowest_id):
            self.skipping = False  # the start timestamp after a cut, or one in the left stride
            return False
        start = self.segment["timestamp"][0]
        if start is None:
            self.segment["timestamp"][0] = time
            return False
        if time == start:  # a start timestamp repeated
            return False
        self.segment["timestamp"][1] = time
        self.runs.append(run)
        self._close_segment()
        return True

    def finish(self):
        """The segments, the open one closed (Whisper may end without its closing timestamp)."""
        if self.runs:
            if self.timestamps:
                logger.warning("Whisper did not predict an ending timestamp, which can happen if audio is cut off in "
                               "the middle of a word. Also make sure WhisperTimeStampLogitsProcessor was used during "
                               "generation.")
            self._close_segment()
        return self.segments


class _WindowClock:
    """Seconds to add to a chunk's timestamps when its tokens concatenate several generate windows
    (HF 5's short-form loop re-decodes the rest of a window): each window restarts at timestamp 0,
    so a timestamp below the highest so far means a new window began."""

    def __init__(self, time_precision, segment_size):
        self.time_precision, self.segment_size = time_precision, segment_size
        self.highest = self.previous_highest = 0.0
        self.elapsed = 0.0

    def advance(self, step, single_ending):
        """The elapsed time before the window of a timestamp ``step``; ``single_ending``: the previous
        window ended on one timestamp (it ran to the window's end), not on an end / start pair."""
        seconds = float(step * self.time_precision)
        if seconds < self.highest:
            if single_ending:
                self.elapsed += self.time_precision * self.segment_size
            else:  # it stopped at its last start timestamp
                self.highest = self.previous_highest
                self.elapsed += self.previous_highest
        self.previous_highest, self.highest = self.highest, seconds
        return self.elapsed


def find_longest_common_sequence(sequences):
    """Joins the token runs of overlapping chunks into one.

    Each next run is slid along the end of the joined one; the alignment with the best fraction of
    equal tokens (at least two of them; among equal fractions the longer overlap, by a 1e-4 per
    token bonus) is the overlap. Its left half is taken from the left run and its right half from
    the right one: each chunk is trusted away from its own edge.
    """
    joined = []
    left = list(sequences[0])
    for right in sequences[1:]:
        right = list(right)
        left_cut, right_cut = _overlap_midpoints(left, right)
        joined.extend(left[:left_cut])
        left = right[right_cut:]
    return joined + left


def _overlap_midpoints(left, right):
    """(i, j): keep ``left[:i]`` and continue with ``right[j:]`` (see ``find_longest_common_sequence``)."""
    n_left, n_right = len(left), len(right)
    best_score, best = 0.0, (n_left, n_left, 0, 0)
    left_array, right_array = np.asarray(left), np.asarray(right)
    for shift in range(1, n_left + n_right):  # ``shift`` positions of the two runs face each other
        l0, l1 = max(0, n_left - shift), min(n_left, n_left + n_right - shift)
        r0, r1 = max(0, shift - n_left), min(n_right, shift)
        equal = int(np.sum(left_array[l0:l1] == right_array[r0:r1]))
        score = equal / shift + shift / 10000.0
        if equal > 1 and score > best_score:
            best_score, best = score, (l0, l1, r0, r1)
    l0, l1, r0, r1 = best
    return (l0 + l1) // 2, (r0 + r1) // 2
