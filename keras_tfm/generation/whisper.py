"""Whisper's ``generate()``: transformers 5's ``WhisperGenerationMixin.generate`` for inputs of at
most 30 seconds (``2 * max_source_positions`` mel frames).

What it adds to ``GenerationMixin.generate``: the decoder prompt (``<|startoftranscript|>``, the
language (given, or detected from the audio), the task, ``<|notimestamps|>`` unless
``return_timestamps``), Whisper's processors (``begin_suppress_tokens``, ``suppress_tokens``,
the timestamp rules) and HF's segment loop: a transcription that ends inside a timestamped
segment seeks to that segment's last timestamp and decodes the rest of the audio again, and the
returned sequences are the segments' tokens (no decoder prompt, no eos), right-padded with
``pad_token_id``, exactly as HF returns them for short-form audio.

Longer audio (HF's sequential long-form decoding) is not implemented: it raises, pointing at the
pipeline's ``chunk_length_s``.
"""

import copy
import logging

import numpy as np
from keras import ops

from keras_tfm import backend
from keras_tfm.generation import logits_process as lp
from keras_tfm.generation.configuration_utils import GenerationConfig
from keras_tfm.generation.utils import GenerationMixin
from keras_tfm.utils.whisper_languages import TASK_IDS, TO_LANGUAGE_CODE

logger = logging.getLogger(__name__)

TIME_PRECISION = 0.02  # seconds per timestamp token
TIME_PRECISION_FEATURES = 0.01  # seconds per mel frame
# long-form options of HF's generate that this short-form implementation does not take
_LONG_FORM_OPTIONS = ("prompt_ids", "condition_on_prev_tokens", "compression_ratio_threshold", "logprob_threshold",
                      "no_speech_threshold", "return_token_timestamps", "prompt_condition_type")


def _features(model, input_features, kwargs):
    features = kwargs.pop("input_features", None) if input_features is None else input_features
    if features is None:
        raise ValueError(f"{type(model).__name__}.generate needs input_features (batch, num_mel_bins, frames), as "
                         "WhisperFeatureExtractor makes them.")
    features = np.asarray(backend.to_numpy(features))
    mel_bins = model.config.num_mel_bins
    if features.ndim != 3 or features.shape[1] != mel_bins or features.dtype.kind != "f":
        raise ValueError(f"input_features must be floats of shape (batch, num_mel_bins={mel_bins}, frames), got "
                         f"{features.dtype} {features.shape}.")
    return features.astype(np.float32)


def _request_config(model, generation_config, kwargs):
    """The model's generation config, overridden by ``generation_config`` and the keyword arguments."""
    if generation_config is not None and not isinstance(generation_config, GenerationConfig):
        raise TypeError(f"generation_config must be a GenerationConfig, got {type(generation_config).__name__}.")
    gc = copy.deepcopy(model.generation_config)
    if generation_config is not None:
        gc = generation_config.over(gc)
    unused = gc.update(**kwargs)
    if unused:
        raise ValueError(f"The following `model_kwargs` are not used by the model: {sorted(unused)} (note: typos in the "
                         "generate arguments will also show up in this list)")
    return gc


def _set_language_and_task(gc, language, task, is_multilingual):
    if is_multilingual is not None:
        if not hasattr(gc, "is_multilingual"):
            raise ValueError("The generation config is outdated and is thus not compatible with the `is_multilingual` "
                             "argument to `generate` (it has no is_multilingual).")
        gc.is_multilingual = is_multilingual
    if hasattr(gc, "is_multilingual") and not gc.is_multilingual and (task is not None or language is not None):
        raise ValueError("Cannot specify `task` or `language` for an English-only model. If the model is intended to "
                         "be multilingual, pass `is_multilingual=True` to generate, or update the generation config.")
    if language is not None:
        if not hasattr(gc, "lang_to_id"):
            raise ValueError("The generation config has no `lang_to_id`: it cannot take the `language` argument.")
        gc.language = language
    if task is not None:
        if not hasattr(gc, "task_to_id"):
            raise ValueError("The generation config has no `task_to_id`: it cannot take the `task` argument.")
        gc.task = task


def _language_id(gc, language):
    """``language`` as a code ("fr"), a name ("french") or a token ("<|fr|>") -> its token id."""
    language = language.lower()
    if language in gc.lang_to_id:
        token = language
    elif language in TO_LANGUAGE_CODE:
        token = f"<|{TO_LANGUAGE_CODE[language]}|>"
    elif language in TO_LANGUAGE_CODE.values():
        token = f"<|{language}|>"
    else:
        known = list(TO_LANGUAGE_CODE.values()) if len(language) == 2 else list(TO_LANGUAGE_CODE)
        raise ValueError(f"Unsupported language: {language}. Language should be one of: {known}.")
    if token not in gc.lang_to_id:
        raise ValueError(f"{token} is not supported by this specific model as it is not in the "
                         "`generation_config.lang_to_id`. (You should just add it to the generation config)")
    return gc.lang_to_id[token]


def detect_language(model, input_features, generation_config=None, num_segment_frames=None):
    """The most likely language token id of each row of ``input_features`` (B,): the decoder's
    first prediction after ``decoder_start_token_id``, among ``generation_config.lang_to_id``."""
    gc = generation_config or model.generation_config
    frames = num_segment_frames or model.num_frames
    features = np.asarray(backend.to_numpy(input_features))[:, :, :frames]
    start = np.full((features.shape[0], 1), gc.decoder_start_token_id, np.int32)
    with backend.inference_mode():
        logits = np.array(backend.to_numpy(model(input_features=features, decoder_input_ids=start).logits[:, -1]),
                          np.float32)
    keep = np.zeros(logits.shape[-1], bool)
    keep[list(gc.lang_to_id.values())] = True
    logits[:, ~keep] = -np.inf
    return logits.argmax(-1)


def _init_tokens(model, features, gc):
    """Each row's decoder prompt (HF's ``_retrieve_init_tokens``): (B, T) int64."""
    batch = features.shape[0]
    task, language = getattr(gc, "task", None), getattr(gc, "language", None)
    init = [gc.decoder_start_token_id]
    if task is None and language is None:  # the older forced_decoder_ids, when neither is set
        forced = getattr(gc, "forced_decoder_ids", None) or getattr(model.config, "forced_decoder_ids", None)
        if forced:
            logger.warning("Using custom `forced_decoder_ids` from the (generation) config. This is deprecated in "
                           "favor of the `task` and `language` flags/config options.")
            forced = [list(f) for f in forced]
            if forced[0][0] == 1:
                i = 1
                while forced and forced[0][0] == i:
                    init.append(forced.pop(0)[1])
                    i += 1
                if forced:
                    raise ValueError(f"You are using token ids in `forced_decoder_ids` that do not seem to correctly "
                                     f"follow the prompt pattern of Whisper. Make sure that {forced} has an entry for "
                                     f"all indices >= 1 and < {forced[0][0]}.")
    lang_undefined = len(init) <= 1 or init[1] is None
    if isinstance(language, (list, tuple)):
        if any(code is None for code in language):
            raise TypeError("Expected `language` to be `None`, a single string (e.g. `'en'`), or a list of strings "
                            "with length equal to the batch size. Got a list containing `None`.")
        if len(language) != batch:
            raise ValueError(f"When passing a list of languages, the length of the list must match the batch size. "
                             f"Expected length of {batch}, but got {len(language)} languages.")
        languages = list(language)
    else:
        languages = [None] * batch if language is None else [language]
    rows = [list(init) for _ in languages]
    lang_ids = None
    if language is not None:
        lang_ids = [_language_id(gc, code) for code in languages]
    elif hasattr(gc, "lang_to_id") and lang_undefined:
        lang_ids = detect_language(model, features, gc).tolist()
    if lang_ids is not None:
        for i, row in enumerate(rows):
            if len(row) > 1:
                row[1] = lang_ids[i]
            else:
                row.append(lang_ids[i])
    task_ids = list(getattr(gc, "task_to_id", {}).values())
    for i, row in enumerate(rows):
        if task is not None:
            if task not in TASK_IDS:
                raise ValueError(f"The `{task}` task is not supported. The task should be one of `{TASK_IDS}`")
            # HF appends the task, then replaces the task ids already there by it
            task_id = gc.task_to_id[task]
            row.append(task_id)
            row[:] = [task_id if t in task_ids else t for t in row]
        elif language is not None and hasattr(gc, "task_to_id") and not any(t in row for t in task_ids):
            row.append(gc.task_to_id["transcribe"])
        no_ts = getattr(gc, "no_timestamps_token_id", None)
        if not gc.return_timestamps and no_ts is not None and row[-1] != no_ts:
            row.append(no_ts)
        elif gc.return_timestamps and row[-1] == no_ts:
            row.pop()
        rows[i] = [t for t in row if t is not None]
    if len(rows) == 1 and batch > 1:
        rows = rows * batch
    if len({len(r) for r in rows}) > 1:
        raise ValueError(f"The rows' decoder prompts differ in length: {rows}.")
    return np.asarray(rows, np.int64)


def _processors(gc, begin_index, custom):
    """Whisper's processors, in HF's order (begin-suppress, suppress, timestamps), then ``custom``;
    the generation config's suppress lists are cleared so that generate() does not add them again."""
    processors = []
    if gc.return_timestamps:
        processors.append(lp.WhisperTimeStampLogitsProcessor(gc, begin_index=begin_index))
    if gc.suppress_tokens is not None:
        processors.insert(0, lp.SuppressTokensLogitsProcessor(gc.suppress_tokens))
        gc.suppress_tokens = None
    if gc.begin_suppress_tokens is not None:
        processors.insert(0, lp.SuppressTokensAtBeginLogitsProcessor(gc.begin_suppress_tokens, begin_index))
        gc.begin_suppress_tokens = None
    return processors + list(custom or ())


def _set_max_length(model, gc, prompt_length):
    """HF's ``_set_max_new_tokens_and_length``: room for the prompt within ``max_target_positions``
    (``max_length`` grows by the prompt, within it)."""
    limit = model.config.max_target_positions
    if (gc.max_new_tokens or 0) + prompt_length > limit:
        raise ValueError(f"The length of `decoder_input_ids`, including special start tokens, prompt tokens, and "
                         f"previous tokens, is {prompt_length}, and `max_new_tokens` is {gc.max_new_tokens}. Thus, "
                         f"the combined length of `decoder_input_ids` and `max_new_tokens` is: "
                         f"{gc.max_new_tokens + prompt_length}. This exceeds the `max_target_positions` of the "
                         f"Whisper model: {limit}. You should either reduce the length of your prompt, or reduce the "
                         "value of `max_new_tokens`, so that their combined length is less than "
                         f"{limit}.")
    if gc.max_length is not None and gc.max_new_tokens is None:
        gc.max_length = min(gc.max_length + min(limit // 2 - 1, prompt_length), limit)


def _strip(sequence, pad, eos):
    """A row's generated tokens without its padding (HF's count: every pad token, one kept when pad
    is eos) and its eos."""
    if len(sequence) and sequence[-1] == pad:
        paddings = int(np.sum(sequence == pad)) - (1 if pad == eos else 0)
        if paddings:
            sequence = sequence[:-paddings]
    if len(sequence) and sequence[-1] == eos:
        sequence = sequence[:-1]
    return sequence


def _segments(sequence, time_offset, timestamp_begin, seek_num_frames, input_stride):
    """HF's ``_retrieve_segment``: the row's segments ({"start", "end", "tokens"}) and how many
    frames to seek forward."""
    is_ts = [t >= timestamp_begin for t in sequence.tolist()]
    single_ending = is_ts[-2:] == [False, True]
    pairs = [i + 1 for i in range(len(is_ts) - 1) if is_ts[i] and is_ts[i + 1]]
    if not pairs:  # one segment: the whole decoding
        stamps = [i for i, t in enumerate(is_ts) if t]
        last = int(seek_num_frames * TIME_PRECISION_FEATURES / TIME_PRECISION)
        if stamps and sequence[stamps[-1]] != timestamp_begin:
            last = float(sequence[stamps[-1]] - timestamp_begin)
        return [{"start": time_offset, "end": time_offset + last * TIME_PRECISION, "tokens": sequence}], \
            seek_num_frames
    slices = pairs + [len(sequence)] if single_ending else pairs[:-1] + [pairs[-1] + 1]
    segments, start = [], 0
    for i, stop in enumerate(slices):
        tokens = sequence[start:stop]
        end_at = -1 if i < len(slices) - 1 or single_ending else -2
        segments.append({"start": time_offset + float(tokens[0] - timestamp_begin) * TIME_PRECISION,
                         "end": time_offset + float(tokens[end_at] - timestamp_begin) * TIME_PRECISION,
                         "tokens": tokens})
        start = stop
    if single_ending:  # nothing said after the last timestamp
        return segments, seek_num_frames
    # the last segment is cut by the window: seek to its start
    return segments, int(sequence[start - 2] - timestamp_begin) * input_stride


def generate(model, input_features=None, generation_config=None, logits_processor=None, stopping_criteria=None,
             return_timestamps=None, task=None, language=None, is_multilingual=None, temperature=None,
             attention_mask=None, return_segments=False, return_dict_in_generate=None, **kwargs):
    """Transcribes or translates ``input_features`` (B, num_mel_bins, frames <= 2 *
    max_source_positions) as transformers 5's ``WhisperForConditionalGeneration.generate``.

    Args:
        input_features: log-mel features, as ``WhisperFeatureExtractor`` makes them (shorter inputs
            are zero-padded to the model's 30-second window).
        generation_config: a ``GenerationConfig``; by default the model's (``generation_config.json``,
            with ``lang_to_id``, ``task_to_id``, ``no_timestamps_token_id``...).
        logits_processor: more processors, run after Whisper's.
        return_timestamps: predict timestamp tokens (the timestamp rules apply); default the
            generation config's ``return_timestamps``.
        task: "transcribe" or "translate".
        language: a code ("fr"), name ("french") or token ("<|fr|>"), or one per row; None with
            a multilingual generation config: detected from the audio.
        is_multilingual: overrides the generation config's.
        temperature: > 0 samples at that temperature (a list, HF's fallback, is not supported).
        attention_mask: accepted for HF's signature; short-form decoding does not read it.
        return_segments: also return each row's segments (``{"start", "end", "tokens"}``).
        return_dict_in_generate: without timestamps, the generation output (its ``sequences``
            hold the decoder prompt, as HF's); with them, ``{"sequences", "segments"}``.
        **kwargs: ``GenerationConfig`` fields (``max_new_tokens``, ``num_beams``...) and
            ``decoder_input_ids`` (a prompt used as it is).

    Returns:
        The generated tokens (B, L) (no decoder prompt, no eos, right-padded with
        ``pad_token_id``), or the dict / output described above.
    """
    for name in _LONG_FORM_OPTIONS:
        if kwargs.get(name) is not None:
            raise NotImplementedError(f"generate({name}=...) is a long-form option of HF's Whisper generate that "
                                      "keras_tfm does not implement yet.")
    if kwargs.pop("encoder_outputs", None) is not None:
        raise NotImplementedError("Whisper generate from encoder_outputs is not supported: pass input_features.")
    if stopping_criteria:
        raise NotImplementedError("Custom stopping_criteria lists are not supported yet.")
    if isinstance(temperature, (list, tuple)):
        raise NotImplementedError("Temperature fallback (a list of temperatures) is a long-form option keras_tfm does "
                                  "not implement yet; pass one temperature.")
    features = _features(model, input_features, kwargs)
    decoder_input_ids = kwargs.pop("decoder_input_ids", None)
    gc = _request_config(model, generation_config, kwargs)

    batch, total_frames = features.shape[0], features.shape[-1]
    window = model.num_frames  # 3000 mel frames (30 s) for Whisper's checkpoints
    input_stride = 2  # mel frames per encoder state
    if total_frames > window:
        raise ValueError(f"input_features have {total_frames} frames, more than the {window} (30 s) Whisper reads at "
                         "once: long-form (sequential) generation is not implemented in keras_tfm. Transcribe long "
                         "audio with the automatic-speech-recognition pipeline and chunk_length_s=30 (chunked "
                         "inference), or cut the features into windows of at most 30 s.")
    if return_dict_in_generate is None:
        return_dict_in_generate = gc.return_dict_in_generate
    else:
        gc.return_dict_in_generate = return_dict_in_generate
    if return_timestamps is None:
        return_timestamps = getattr(gc, "return_timestamps", None)
    if return_timestamps and getattr(gc, "no_timestamps_token_id", None) is None:
        raise ValueError("You are trying to return timestamps, but the generation config is not properly set: it "
                         "needs `no_timestamps_token_id` (and the other fields of a Whisper checkpoint's "
                         "generation_config.json).")
    gc.return_timestamps = return_timestamps
    no_ts = getattr(gc, "no_timestamps_token_id", None)
    timestamp_begin = no_ts + 1 if no_ts is not None else model.config.vocab_size + 1
    _set_language_and_task(gc, language, task, is_multilingual)
    if decoder_input_ids is not None:
        init = np.asarray(backend.to_numpy(decoder_input_ids)).astype(np.int64)
        init = init[None] if init.ndim == 1 else init
    else:
        init = _init_tokens(model, features, gc)
    processors = _processors(gc, init.shape[1], logits_processor)

    gc.do_sample = temperature is not None and temperature > 0.0  # HF: only `temperature` turns sampling on
    gc.temperature = temperature if gc.do_sample else 1.0
    if gc.do_sample:
        gc.num_beams = 1
    if gc.num_return_sequences and gc.num_return_sequences > 1:  # HF: one row per returned sequence
        features = np.repeat(features, gc.num_return_sequences, axis=0)
        init = np.repeat(init, gc.num_return_sequences, axis=0)
        batch, gc.num_return_sequences = features.shape[0], 1

    pad, eos = gc.pad_token_id, gc.eos_token_id
    eos = eos[0] if isinstance(eos, (list, tuple)) and len(eos) == 1 else eos
    seek = np.zeros(batch, np.int64)
    max_frames = np.full(batch, total_frames, np.int64)
    segments = [[] for _ in range(batch)]
    output = None
    while (seek < max_frames).any():
        rows = np.flatnonzero(seek < max_frames)
        time_offset = seek * TIME_PRECISION / input_stride
        seek_num_frames = np.minimum(max_frames - seek, window)
        window_input = np.zeros((len(rows), features.shape[1], window), np.float32)
        for j, i in enumerate(rows):
            window_input[j, :, :seek_num_frames[i]] = features[i, :, seek[i]:seek[i] + seek_num_frames[i]]
        prompt = init[rows]
        _set_max_length(model, gc, prompt.shape[1])
        for processor in processors:
            if hasattr(processor, "set_begin_index"):
                processor.set_begin_index(prompt.shape[1])
        call_gc = copy.deepcopy(gc)
        call_gc._given = set(call_gc.to_dict())  # every field as set here
        output = GenerationMixin.generate(model, window_input, generation_config=call_gc,
                                          logits_processor=lp.LogitsProcessorList(processors),
                                          decoder_input_ids=prompt)
        sequences = np.asarray(backend.to_numpy(output["sequences"] if gc.return_dict_in_generate else output))
        advanced = False
        for j, i in enumerate(rows):
            tokens = _strip(sequences[j, prompt.shape[1]:].astype(np.int64), pad, eos)
            found, offset = _segments(tokens, float(time_offset[i]), timestamp_begin, int(seek_num_frames[i]),
                                      input_stride)
            segments[i] += found
            seek[i] += offset
            advanced |= offset > 0
        if not advanced:  # HF would decode the same window forever
            logger.warning("Whisper generate: no row moved past its last timestamp; stopping.")
            break

    if return_dict_in_generate and not return_timestamps:
        return output  # the (last) generation's output, decoder prompt included, as HF's
    tokens = [np.concatenate([s["tokens"] for s in row]) if row else np.zeros(0, np.int64) for row in segments]
    longest = max(len(t) for t in tokens)
    padded = np.full((batch, longest), pad if pad is not None else 0, np.int64)
    for i, row in enumerate(tokens):
        padded[i, :len(row)] = row
    sequences = ops.convert_to_tensor(padded.astype(np.int32))
    if return_dict_in_generate:
        logger.warning("You have passed `return_dict_in_generate=True` and `return_timestamps=True`: the output is "
                       "{'sequences', 'segments'}.")
        return_segments = True
    if not return_segments:
        return sequences
    return {"sequences": sequences, "segments": segments}
