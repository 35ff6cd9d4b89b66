"""``automatic-speech-recognition``: the text spoken in audio, with CTC models (Wav2Vec2) or Whisper.

As Hugging Face transformers 5's pipeline:

- CTC: the argmax of the logits, decoded by the CTC tokenizer (repeats collapsed, blanks dropped);
  ``return_timestamps="char"`` / ``"word"`` add ``chunks`` ``[{"text", "timestamp": (start, end)}]`` in
  seconds, from the tokenizer's offsets (frames times ``inputs_to_logits_ratio`` / sampling rate).
- Whisper: ``model.generate`` on the log-mel features, with ``generate_kwargs`` (or generation
  arguments given directly: ``max_new_tokens``, ``num_beams``, ``language``, ``task``...; the
  pipeline's defaults ``max_new_tokens=256``, ``num_beams=5`` apply where neither the call nor the
  model's ``generation_config.json`` set them); ``return_timestamps=True`` gives segments as
  ``chunks``, ``return_language=True`` the language of each segment.
- Long audio: ``chunk_length_s`` cuts the input into chunks of that length overlapping by
  ``stride_length_s`` (default ``chunk_length_s / 6``) on each side (``chunk_iter``). CTC drops the
  logits of the strides and joins the rest; Whisper's chunks are joined by the timestamp /
  longest-common-sequence logic of ``asr_decoding.decode_asr``. Whisper without chunking takes at
  most the feature extractor's 30 s.
- A dict input may carry ``"stride": (left, right)`` in samples: the CTC logits of that much audio
  at each end are dropped (streaming); Whisper merges its timestamps as a chunk's.

Inputs are those of ``AudioPipeline`` (arrays, files, bytes, ``datasets`` rows decoded or not, lists,
generators, datasets). Result: ``{"text": ...}`` (plus ``"chunks"``).
"""

import functools
import logging
import operator

import numpy as np

from keras_tfm import backend
from keras_tfm.generation import GenerationConfig
from keras_tfm.pipelines.asr_decoding import decode_asr
from keras_tfm.pipelines.audio_base import AudioPipeline, feature_frames
from keras_tfm.pipelines.base import to_float_numpy
from keras_tfm.pipelines.generation_base import GenerationPipeline

logger = logging.getLogger(__name__)


def rescale_stride(strides, ratio):
    """``(length, left, right)`` strides counted in audio samples -> counted in logits frames (``ratio``
    frames per sample), rounded as transformers rounds them: (160_000, 16_000, 16_000) at 1/320 ->
    (500, 50, 50)."""
    def frames(length, left, right):
        n = int(round(length * ratio))
        return n, int(round(left / length * n)), int(round(right / length * n))

    return [frames(*stride) for stride in strides]


def chunk_iter(inputs, chunk_len, stride_left, stride_right):
    """Cuts a 1-D waveform into overlapping chunks, as transformers' ``chunk_iter``: yields
    ``(chunk, (its length, left stride, right stride), is_last)``. Chunks start every
    ``chunk_len - stride_left - stride_right`` samples; the first has no left stride and the last
    none on the right; a chunk that is all left stride is not yielded."""
    step = chunk_len - stride_left - stride_right
    start = 0
    while True:
        chunk = inputs[start:start + chunk_len]
        is_last = start + chunk_len >= len(inputs)
        left = stride_left if start else 0
        if len(chunk) > left:
            yield chunk, (len(chunk), left, 0 if is_last else stride_right), is_last
        if is_last:
            return
        start += step


class AutomaticSpeechRecognitionPipeline(AudioPipeline, GenerationPipeline):
    """Transcribes speech with a CTC model (``*ForCTC``) or Whisper (see the module docstring).

    Example:
        >>> transcriber = pipeline("automatic-speech-recognition", model="facebook/wav2vec2-base-960h")
        >>> transcriber("speech.flac")
        {'text': 'HE HOPED THERE WOULD BE STEW FOR DINNER'}
        >>> transcriber(long_audio, chunk_length_s=10, stride_length_s=2, return_timestamps="word")

    Call arguments: ``chunk_length_s``, ``stride_length_s`` (a number or ``(left, right)``),
    ``return_timestamps`` ("char" / "word" for CTC, True for Whisper), ``return_language``
    (Whisper), ``generate_kwargs`` and generation arguments (Whisper), ``ignore_warning``.
    """

    chunked = True  # preprocess gives a list of features (the chunks of long audio) per input
    _load_tokenizer = True
    _load_feature_extractor = True
    _default_generation_config = GenerationConfig(max_new_tokens=256, num_beams=5)  # num_beams: openai's whisper

    def __init__(self, model, *args, decoder=None, **kwargs):
        if decoder is not None:
            raise ValueError("decoder=...: keras_tfm has no pyctcdecode language-model decoding (transformers 5 "
                             "deprecated it); decode the logits with pyctcdecode yourself.")
        config = model.config
        if getattr(config, "model_type", None) == "whisper":
            self.type = "seq2seq_whisper"
        elif type(model).__name__.endswith("ForCTC"):
            self.type = "ctc"
        else:
            raise ValueError(f"The automatic-speech-recognition pipeline runs CTC models (*ForCTC) and Whisper; got "
                             f"{type(model).__name__} (model_type {getattr(config, 'model_type', None)!r}).")
        super().__init__(model, *args, **kwargs)

    @property
    def output_keys(self):
        return ("sequences",) if self.type == "seq2seq_whisper" else ("logits",)

    @property
    def token_output_keys(self):
        return () if self.type == "seq2seq_whisper" else ("tokens",)

    @property
    def _align_to(self):
        """Audio samples per logits frame of a CTC model."""
        config = self.model.config
        ratio = getattr(config, "inputs_to_logits_ratio", None)
        if ratio is None:
            ratio = functools.reduce(operator.mul, getattr(config, "conv_stride", None) or [1], 1)
        return ratio

    # ---- parameters ----------------------------------------------------------------
    def _sanitize_parameters(self, chunk_length_s=None, stride_length_s=None, ignore_warning=None,
                             decoder_kwargs=None, return_timestamps=None, return_language=None,
                             generate_kwargs=None, **kwargs):
        preprocess, forward, postprocess = {}, {}, {}
        whisper = self.type == "seq2seq_whisper"
        if chunk_length_s is not None:
            if whisper and not ignore_warning:
                logger.warning("Using `chunk_length_s` is very experimental with seq2seq models. The results will not "
                               "necessarily be entirely accurate and will have caveats. Ignore this warning with "
                               "pipeline(..., ignore_warning=True).")
            preprocess["chunk_length_s"] = chunk_length_s
        if stride_length_s is not None:
            preprocess["stride_length_s"] = stride_length_s
        if decoder_kwargs is not None:
            raise ValueError("decoder_kwargs: keras_tfm has no pyctcdecode language-model decoding.")
        generate = {**(generate_kwargs or {}), **kwargs}
        if generate and not whisper:
            raise TypeError(f"The automatic-speech-recognition pipeline of a CTC model got unexpected arguments "
                            f"{sorted(generate)} (generation arguments apply to Whisper only).")
        forward.update(generate)
        if return_language is not None:
            if not whisper:
                raise ValueError("Only Whisper can return language for now.")
            postprocess["return_language"] = return_language
            forward["return_language"] = return_language
        generation_config = getattr(self.model, "generation_config", None)
        if getattr(generation_config, "return_timestamps", False):
            return_timestamps = return_timestamps or generation_config.return_timestamps
        if return_timestamps is not None:
            if self.type == "ctc" and return_timestamps not in ("char", "word"):
                raise ValueError("CTC can either predict character level timestamps, or word level timestamps. "
                                 "Set `return_timestamps='char'` or `return_timestamps='word'` as required.")
            if whisper and return_timestamps == "char":
                raise ValueError("Whisper cannot return `char` timestamps, only word level or segment level "
                                 "timestamps. Use `return_timestamps='word'` or `return_timestamps=True` respectively.")
            if whisper and return_timestamps == "word":
                raise NotImplementedError("Whisper word-level timestamps (return_timestamps='word') are not supported "
                                          "by keras_tfm; use return_timestamps=True for segment timestamps.")
            forward["return_timestamps"] = return_timestamps
            postprocess["return_timestamps"] = return_timestamps
        return preprocess, forward, postprocess

    # ---- preprocessing -------------------------------------------------------------
    def preprocess(self, inputs, chunk_length_s=0, stride_length_s=None, name="inputs"):
        stride = None
        if isinstance(inputs, dict) and "stride" in inputs:
            inputs = dict(inputs)
            stride = inputs.pop("stride")
            in_rate = inputs.get("sampling_rate")
        waveform = self.read_audio(inputs, name)
        rate = self.sampling_rate
        if stride is not None:
            ratio = rate / in_rate if in_rate else 1
            if stride[0] + stride[1] > waveform.shape[0]:
                raise ValueError(f"{name}: stride {tuple(stride)} is too large for an input of {waveform.shape[0]} "
                                 "samples.")
            stride = (waveform.shape[0], int(round(stride[0] * ratio)), int(round(stride[1] * ratio)))

        if chunk_length_s:
            if stride_length_s is None:
                stride_length_s = chunk_length_s / 6
            if isinstance(stride_length_s, (int, float)):
                stride_length_s = [stride_length_s, stride_length_s]
            align_to = self._align_to if self.type == "ctc" else 1
            chunk_len = int(round(chunk_length_s * rate / align_to) * align_to)
            stride_left = int(round(stride_length_s[0] * rate / align_to) * align_to)
            stride_right = int(round(stride_length_s[1] * rate / align_to) * align_to)
            if chunk_len <= stride_left + stride_right:
                raise ValueError(f"Chunk length must be superior to stride length: chunk_length_s={chunk_length_s} "
                                 f"({chunk_len} samples), stride_length_s={list(stride_length_s)} ({stride_left} + "
                                 f"{stride_right} samples).")
            return [{**self._features(chunk), "stride": chunk_stride}
                    for chunk, chunk_stride, _ in chunk_iter(waveform, chunk_len, stride_left, stride_right)]

        if self.type == "seq2seq_whisper" and waveform.shape[0] > self.feature_extractor.n_samples:
            raise ValueError(
                f"{name} is {waveform.shape[0] / rate:.1f} s long; Whisper takes at most "
                f"{self.feature_extractor.n_samples / rate:g} s at once and keras_tfm has no sequential long-form "
                "generation: pass chunk_length_s=30 to transcribe it in chunks."
            )
        feature = self._features(waveform)
        if stride is not None:
            feature["stride"] = stride
        return [feature]

    def _features(self, waveform):
        if self.type == "seq2seq_whisper":
            return {"input_features": self.extract(waveform)["input_features"]}
        return self.extract(waveform, return_attention_mask=True)

    # ---- model ---------------------------------------------------------------------
    def _collate(self, features):
        batch, _ = super()._collate(features)
        if self.type == "seq2seq_whisper":
            return batch, None
        # the logits frames of each row's real samples: the batch padding's frames are cut off again
        return batch, [feature_frames(self.model.config, len(f["input_values"])) for f in features]

    def _forward(self, batch, return_timestamps=False, return_language=None, **generate_kwargs):
        if self.type == "ctc":
            logits = self.compiled_forward(**batch)["logits"]
            return {"tokens": np.argmax(to_float_numpy(logits), axis=-1)}
        kwargs = self._prepare_generate_kwargs(generate_kwargs)
        if return_timestamps:
            kwargs["return_timestamps"] = True
        output = self.model.generate(input_features=batch["input_features"], **kwargs)
        tokens = np.asarray(backend.to_numpy(getattr(output, "sequences", output)))
        if return_language:  # generate() drops the decoder prompt: put each row's language token back for decode_asr
            tokens = np.concatenate([self._language_ids(batch["input_features"], kwargs)[:, None], tokens], axis=1)
        return {"tokens": tokens}

    def _language_ids(self, features, generate_kwargs):
        """The language token id of each row: the one asked for, else the one Whisper detects in the audio."""
        from keras_tfm.generation.whisper import _language_id, detect_language

        config = generate_kwargs.get("generation_config") or self.model.generation_config
        language = generate_kwargs.get("language", getattr(config, "language", None))
        if language is None:
            return np.asarray(backend.to_numpy(detect_language(self.model, features, config))).astype(np.int64)
        languages = language if isinstance(language, (list, tuple)) else [language] * len(features)
        return np.array([_language_id(config, code) for code in languages], np.int64)

    def _unbatch(self, outputs, i, length):
        return {key: value[i, :length] for key, value in outputs.items()}

    # ---- postprocessing ------------------------------------------------------------
    def postprocess(self, outputs, return_timestamps=None, return_language=None):
        if self.type == "seq2seq_whisper":
            return self._postprocess_whisper(outputs, return_timestamps, return_language)
        return self._postprocess_ctc(outputs, return_timestamps)

    def _postprocess_ctc(self, outputs, return_timestamps):
        pieces = []
        for output in outputs:
            tokens = np.asarray(output["tokens"])
            if output.get("stride") is not None:
                total_n, left, right = rescale_stride([output["stride"]], 1 / self._align_to)[0]
                tokens = tokens[left:total_n - right]  # total_n may pass the frames: the slice stops at them
            pieces.append(tokens)
        ids = np.concatenate(pieces).tolist()
        result = {"text": self.tokenizer.decode(ids, skip_special_tokens=False)}
        if return_timestamps:
            key = f"{return_timestamps}_offsets"
            offsets = self.tokenizer.decode(ids, skip_special_tokens=False, output_char_offsets=True,
                                            output_word_offsets=return_timestamps == "word")[key]
            align_to, rate = self._align_to, self.sampling_rate
            result["chunks"] = [
                {"text": item[return_timestamps],
                 "timestamp": (item["start_offset"] * align_to / rate, item["end_offset"] * align_to / rate)}
                for item in offsets
            ]
        return result

    def _postprocess_whisper(self, outputs, return_timestamps, return_language):
        rate = self.sampling_rate
        model_outputs = []
        for output in outputs:
            entry = {"tokens": np.asarray(output["tokens"])[None]}
            if output.get("stride") is not None:
                entry["stride"] = tuple(value / rate for value in output["stride"])  # seconds
            model_outputs.append(entry)
        time_precision = self.feature_extractor.chunk_length / self.model.config.max_source_positions
        text, optional = decode_asr(self.tokenizer, model_outputs, return_timestamps=return_timestamps,
                                    return_language=return_language, time_precision=time_precision)
        return {"text": text, **optional}
