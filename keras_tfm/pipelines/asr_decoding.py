"""Whisper's ASR decoding: the token ids of one or more audio chunks -> text and timestamped segments.

The speech-recognition pipeline runs Whisper on overlapping 30-second chunks of long audio;
``decode_asr`` joins their token sequences as Hugging Face transformers does in
``WhisperTokenizer._decode_asr`` (a function over the tokenizer here, not a tokenizer method):

- with timestamps, text is cut into segments at Whisper's end-timestamp tokens; timestamps that
  fall in a chunk's strides (the overlap with its neighbours) are not split on, and the tokens of
  the overlapping segments are merged by ``find_longest_common_sequence``;
- without timestamps, the chunks' tokens are merged the same way into one text;
- a language token starts a new segment language (``return_language``).

The output is transformers' pipeline format: ``(text, {"chunks": [{"text", "timestamp", "language"}]})``.
"""

import logging

import numpy as np

logger = logging.getLogger(__name__)


def decode_asr(tokenizer, model_outputs, *, return_timestamps, return_language, time_precision, segment_size=1500):
    """Text (and segments) of Whisper's outputs for the chunks of one audio input.

    Args:
        tokenizer: the Whisper tokenizer (``all_special_ids``, ``convert_tokens_to_ids``, ``decode``).
        model_outputs: one dict per chunk, in order: ``"tokens"`` (a (1, length) array of generated
            ids) and, for a chunk of long audio, ``"stride"`` = (chunk length, left stride, right
            stride) in seconds.
        return_timestamps: True for segment timestamps ("word" is not supported: it needs Whisper's
            cross-attention token timestamps).
        return_language: add each segment's language (the name of its language token).
        time_precision: seconds per timestamp token (the extractor's chunk_length / max_source_positions).
        segment_size: the number of timestamp positions in one generate segment (long-form offsets).

    Returns:
        ``(text, optional)`` where ``optional`` is ``{"chunks": [...]}`` when timestamps or the
        language were asked for, else ``{}``.
    """
    if return_timestamps == "word":
        raise NotImplementedError("Whisper word-level timestamps (return_timestamps='word') need cross-attention "
                                  "token timestamps, which keras_tfm's Whisper does not compute; use "
                                  "return_timestamps=True for segment timestamps.")
    from keras_tfm.processing.tokenization_whisper import LANGUAGES

    last_language = None

    def new_chunk():
        return {"language": last_language, "timestamp": [None, None], "text": ""}

    chunks = []
    chunk = new_chunk()
    time_offset = 0.0
    timestamp_begin = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1
    previous_tokens = []
    skip = False
    right_stride_start = None

    all_special_ids = set(tokenizer.all_special_ids)
    prompt_token_id = tokenizer.convert_tokens_to_ids("<|startofprev|>")
    decoder_start_token_id = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    for output in model_outputs:
        token_ids = strip_prompt(np.asarray(output["tokens"])[0].tolist(), prompt_token_id, decoder_start_token_id)

        # Timestamps inside the strides are not split on: the segment is resolved once out of both strides.
        last_timestamp = None
        first_timestamp = timestamp_begin

        # long-form outputs concatenate segments of several generate calls
        cur_max_timestamp = 0.0
        prev_segments_len = 0.0
        penultimate_timestamp = 0.0

        if "stride" in output:
            chunk_len, stride_left, stride_right = output["stride"]
            time_offset -= stride_left
            right_stride_start = chunk_len - stride_right
            if stride_left:
                first_timestamp = stride_left / time_precision + timestamp_begin
            if stride_right:
                for token in reversed(token_ids):
                    if token >= timestamp_begin:
                        # several timestamps may lie in the right stride; the last one is always skipped
                        if (last_timestamp is not None
                                and (token - timestamp_begin) * time_precision < right_stride_start):
                            break
                        last_timestamp = token

        current_tokens = []
        for i, token in enumerate(token_ids):
            if token in all_special_ids:  # a language token, or another special token (ignored)
                language = LANGUAGES.get(tokenizer.decode([token])[2:-2])
                if language is not None:
                    if last_language and language != last_language and not return_timestamps:
                        previous_tokens.append(current_tokens)
                        chunk["text"] = tokenizer.decode(find_longest_common_sequence(previous_tokens))
                        chunks.append(chunk)
                        previous_tokens = []
                        current_tokens = []
                        chunk = new_chunk()
                    chunk["language"] = language
                    last_language = language
            elif token >= timestamp_begin:  # a timestamp
                timestamp = float((token - timestamp_begin) * time_precision)
                if timestamp < cur_max_timestamp:  # the next segment has started
                    last_was_single_ending = i >= 2 and not (
                        token_ids[i - 1] >= timestamp_begin and token_ids[i - 2] >= timestamp_begin
                    )
                    if last_was_single_ending:
                        prev_segments_len += time_precision * segment_size
                    else:
                        cur_max_timestamp = penultimate_timestamp
                        prev_segments_len += penultimate_timestamp
                penultimate_timestamp = cur_max_timestamp
                cur_max_timestamp = timestamp

                time = round((token - timestamp_begin) * time_precision + time_offset + prev_segments_len, 2)
                if last_timestamp and token >= last_timestamp:
                    # in the right stride: skip it (and the start timestamp that follows), resolve later
                    skip = True
                elif skip or (previous_tokens and token < first_timestamp):
                    skip = False
                elif chunk["timestamp"][0] is None:
                    chunk["timestamp"][0] = time
                elif time != chunk["timestamp"][0]:  # an end (a repeated start timestamp stays a start)
                    chunk["timestamp"][1] = time
                    previous_tokens.append(current_tokens)
                    chunk["text"] = tokenizer.decode(find_longest_common_sequence(previous_tokens))
                    chunks.append(chunk)
                    previous_tokens = []
                    current_tokens = []
                    chunk = new_chunk()
            else:
                current_tokens.append(token)

        if "stride" in output:
            time_offset += chunk_len - stride_right

        if current_tokens:
            previous_tokens.append(current_tokens)
        elif not any(p for p in previous_tokens):
            chunk = new_chunk()
            previous_tokens = []

    if previous_tokens:
        if return_timestamps:
            logger.warning("Whisper did not predict an ending timestamp, which can happen if audio is cut off in the "
                           "middle of a word. Also make sure WhisperTimeStampLogitsProcessor was used during "
                           "generation.")
        chunk["text"] = tokenizer.decode(find_longest_common_sequence(previous_tokens))
        chunks.append(chunk)

    full_text = "".join(chunk["text"] for chunk in chunks)
    if not (return_timestamps or return_language):
        return full_text, {}
    for chunk in chunks:
        if return_timestamps:
            chunk["timestamp"] = tuple(chunk["timestamp"])
        else:
            chunk.pop("timestamp")
        if not return_language:
            chunk.pop("language")
    return full_text, {"chunks": chunks}


def find_longest_common_sequence(sequences):
    """Joins token sequences of overlapping chunks into one.

    Each next sequence is slid along the end of the joined one; the offset with the best
    fraction of equal tokens (at least two; ties go to the longer overlap) is taken as the
    overlap, whose left half comes from the left sequence and right half from the right one.
    """
    left_sequence = sequences[0]
    left_length = len(left_sequence)
    total_sequence = []
    for right_sequence in sequences[1:]:
        max_ = 0.0
        max_indices = (left_length, left_length, 0, 0)
        right_length = len(right_sequence)
        for i in range(1, left_length + right_length):
            eps = i / 10000.0  # favours long perfect matches
            left_start = max(0, left_length - i)
            left_stop = min(left_length, left_length + right_length - i)
            left = np.array(left_sequence[left_start:left_stop])
            right_start = max(0, i - left_length)
            right_stop = min(right_length, i)
            right = np.array(right_sequence[right_start:right_stop])
            matches = np.sum(left == right)
            matching = matches / i + eps
            if matches > 1 and matching > max_:
                max_ = matching
                max_indices = (left_start, left_stop, right_start, right_stop)

        left_start, left_stop, right_start, right_stop = max_indices
        # the overlap is audio both chunks heard: trust the left chunk for its left half, the right for the rest
        left_mid = (left_stop + left_start) // 2
        right_mid = (right_stop + right_start) // 2
        total_sequence.extend(left_sequence[:left_mid])
        left_sequence = right_sequence[right_mid:]
        left_length = len(left_sequence)
    total_sequence.extend(left_sequence)
    return total_sequence


def strip_prompt(token_ids, prompt_token_id, decoder_start_token_id):
    """``token_ids`` without a leading ``<|startofprev|>`` prompt (up to the ``<|startoftranscript|>`` token)."""
    if token_ids and token_ids[0] == prompt_token_id:
        if decoder_start_token_id in token_ids:
            return token_ids[token_ids.index(decoder_start_token_id):]
        return []
    return token_ids
