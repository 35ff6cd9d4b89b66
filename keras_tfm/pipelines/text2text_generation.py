"""The sequence-to-sequence pipelines of Hugging Face transformers 4: ``text2text-generation``,
``summarization`` and ``translation`` / ``translation_xx_to_yy``.

transformers 5 deleted them; these keep 4.57's behaviour, defaults and output format:

- a str gives a list of result dicts (one per returned sequence); a list of str gives one
  dict per input (a list of dicts per input with ``num_return_sequences`` > 1); a generator
  gives a generator of lists. The keys are ``generated_text`` / ``summary_text`` /
  ``translation_text``, or ``*_token_ids`` (a list of ints, where 4.57 gave a framework
  tensor; the decoder start token first, batch padding at the end) with ``return_tensors=True``.
- the pipeline's generation config (``pipe.generation_config``) is made once, as 4.57 made
  it: the model's ``generation_config`` under the pipeline's defaults (``max_new_tokens=256``,
  ``num_beams=4``, which win over the model's values), then the generation arguments given to
  ``pipeline(...)`` (a ``generation_config`` given there replaces the defaults and the task's
  settings); ``max_new_tokens`` is dropped again when ``max_length`` is no longer the
  global 20; then ``config.task_specific_params[task]`` (BART's summarization settings, T5's
  translation settings) over all of it, its ``prefix`` put before every input. A call's
  generation arguments go over that config (``max_new_tokens``, when set, beats a call's
  ``max_length``, as in 4.57); a call's ``generation_config`` replaces it.
- inputs are tokenized one by one and right-padded per batch, without truncation; an input
  longer than the model's learned positions (BART's ``max_position_embeddings``), which
  transformers 4 could not run, is cut to them with a warning (``truncation=True`` cuts to the
  tokenizer's ``model_max_length``, as in 4.57; ``truncation=False`` makes it an error).
"""

import copy
import enum
import logging
import re

from keras_tfm.generation import GenerationConfig
from keras_tfm.pipelines.base import check_text
from keras_tfm.pipelines.generation_base import GenerationPipeline

logger = logging.getLogger(__name__)

TRANSLATION_TASK = re.compile(r"translation_([^_]+)_to_([^_]+)")
GLOBAL_MAX_LENGTH = GenerationConfig().max_length  # 20: a max_length other than this was set by someone


class ReturnType(enum.Enum):
    TENSORS = 0
    TEXT = 1


def translation_languages(task):
    """``(src, tgt)`` of a ``translation_xx_to_yy`` task name, else None."""
    match = TRANSLATION_TASK.fullmatch(task or "")
    return match.groups() if match else None


def default_translation_task(config):
    """The first ``translation_*`` key of ``config.task_specific_params`` (what 4.57 ran for the bare
    ``translation`` task), or None."""
    for key in getattr(config, "task_specific_params", None) or {}:
        if key.startswith("translation"):
            return key
    return None


class Text2TextGenerationPipeline(GenerationPipeline):
    """Generates text from text with an encoder-decoder model (``pipeline("text2text-generation")``).

    Call parameters: every ``generate`` argument (``max_new_tokens``, ``num_beams``,
    ``min_length``...), ``return_tensors`` (token ids instead of text), ``return_text``
    (accepted; text is returned unless ``return_tensors``), ``clean_up_tokenization_spaces``
    (default False), ``truncation``, ``stop_sequence`` (its first token ends generation),
    ``batch_size``. See the module docstring for the generation settings.
    """

    _load_tokenizer = True
    _default_generation_config = GenerationConfig(max_new_tokens=256, num_beams=4)
    return_name = "generated"  # the output keys: generated_text / generated_token_ids

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        self.prefix = getattr(model.config, "prefix", None)
        self.generation_config = self._pipeline_generation_config(self._generate_kwargs)
        self._generate_kwargs = {}  # taken into self.generation_config

    @property
    def padding_side(self):
        return getattr(self.tokenizer, "padding_side", None) or "right"

    def _pipeline_generation_config(self, init_kwargs):
        """The generation config every call starts from (transformers 4.57's order; module docstring)."""
        init_kwargs = dict(init_kwargs)
        given = init_kwargs.pop("generation_config", None)
        model_config = self.model.generation_config
        if given is not None:  # a whole config from the user: no pipeline defaults, no task settings (the prefix stays)
            config = given.over(model_config)
        else:
            config = copy.deepcopy(model_config)
            defaults = self._default_generation_config.to_diff_dict()
            defaults.pop("transformers_version", None)
            config.update(**defaults)
        unused = config.update(**init_kwargs)
        if unused:
            raise ValueError(f"The {self.task} pipeline got generation arguments unknown to GenerationConfig: "
                             f"{sorted(unused)}.")
        default_new = self._default_generation_config.max_new_tokens
        if (given is None and default_new is not None and config.max_new_tokens == default_new
                and config.max_length not in (None, GLOBAL_MAX_LENGTH)):
            config.update(max_new_tokens=None)  # a max_length set by the model (or the user) wins
        task_params = dict((getattr(self.model.config, "task_specific_params", None) or {}).get(self.task) or {})
        if "prefix" in task_params:
            self.prefix = task_params.pop("prefix")
        unused = config.update(**task_params) if given is None else {}
        if unused:
            logger.warning("config.task_specific_params[%r] has settings GenerationConfig does not know; ignoring "
                           "%s.", self.task, sorted(unused))
        pad_token_id = getattr(self.tokenizer, "pad_token_id", None)
        if pad_token_id is not None and config.pad_token_id is None:
            config.update(pad_token_id=pad_token_id)
        return config

    def _sanitize_parameters(self, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, truncation=None, stop_sequence=None, **generate_kwargs):
        preprocess = {} if truncation is None else {"truncation": truncation}
        postprocess = {}
        if return_tensors is not None and return_type is None:
            return_type = ReturnType.TENSORS if return_tensors else ReturnType.TEXT
        if return_type is not None:
            postprocess["return_type"] = ReturnType(return_type)
        if clean_up_tokenization_spaces is not None:
            postprocess["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if generate_kwargs.get("generation_config", "") is None:
            generate_kwargs.pop("generation_config")
        if stop_sequence is not None:
            stop_ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if not stop_ids:
                raise ValueError(f"stop_sequence={stop_sequence!r} encodes to no token.")
            if len(stop_ids) > 1:
                logger.warning("Stopping on a multiple token sequence is not yet supported; the first token of the "
                               "stop sequence (%d) ends generation.", stop_ids[0])
            generate_kwargs["eos_token_id"] = stop_ids[0]
        return preprocess, generate_kwargs, postprocess

    def __call__(self, inputs, *args, **kwargs):
        """Generates for a str, a list of str, or a generator / dataset of str (module docstring)."""
        result = super().__call__(inputs, *args, **kwargs)
        if (isinstance(inputs, (list, tuple)) and all(isinstance(text, str) for text in inputs)
                and all(len(records) == 1 for records in result)):
            return [records[0] for records in result]
        return result

    def preprocess(self, text, truncation=None):
        check_text(self.task, text)
        prefixed = (self.prefix or "") + text
        if truncation is not None:
            ids = self.tokenizer(prefixed, truncation=truncation)["input_ids"]
        else:
            ids = self._ids_within_positions(prefixed)
        if not ids:
            raise ValueError(f"The {self.task} pipeline got an empty input, and the tokenizer adds no special token "
                             "to it: there is nothing to encode.")
        if not text.strip():
            logger.warning("The %s pipeline got an empty input: the model sees only %d special or prefix tokens.",
                           self.task, len(ids))
        return {"input_ids": list(ids), "attention_mask": [1] * len(ids)}

    def _ids_within_positions(self, text):
        """The ids of ``text``; cut to the model's learned positions (with a warning) when longer."""
        ids = self.tokenizer(text)["input_ids"]
        limit = self._max_positions()
        if limit and len(ids) > limit:
            logger.warning("An input of the %s pipeline is %d tokens long, more than the %d positions of %s: it is "
                           "truncated to %d tokens (pass truncation=True to cut to the tokenizer's model_max_length "
                           "instead).", self.task, len(ids), limit, type(self.model).__name__, limit)
            ids = self.tokenizer(text, truncation=True, max_length=limit)["input_ids"]
        return ids

    def check_inputs(self, input_length, min_length, max_length):
        """Warns about settings that look wrong for the task (transformers 4's messages)."""
        return True

    def _forward(self, batch, **generate_kwargs):
        self.check_inputs(
            int(batch["input_ids"].shape[1]),
            generate_kwargs.get("min_length", self.generation_config.min_length),
            generate_kwargs.get("max_length", self.generation_config.max_length),
        )
        return super()._forward(batch, **generate_kwargs)

    def _prepare_generate_kwargs(self, generate_kwargs, **overrides):
        """The call's generate arguments over the pipeline's generation config; a call's own
        ``generation_config`` is used instead of it."""
        if generate_kwargs.get("generation_config") is not None:
            return {**generate_kwargs, **overrides}
        return {**generate_kwargs, **overrides, "generation_config": self.generation_config}

    def postprocess(self, feature, return_type=ReturnType.TEXT, clean_up_tokenization_spaces=False):
        records = []
        for row in feature["sequences"]:
            ids = [int(t) for t in row]
            if return_type == ReturnType.TENSORS:
                records.append({f"{self.return_name}_token_ids": ids})
            else:
                text = self.tokenizer.decode(ids, skip_special_tokens=True,
                                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
                records.append({f"{self.return_name}_text": text})
        return records


class SummarizationPipeline(Text2TextGenerationPipeline):
    """Summarizes documents (``pipeline("summarization")``; default model sshleifer/distilbart-cnn-12-6).

    As ``Text2TextGenerationPipeline``; the model's ``task_specific_params["summarization"]``
    (min_length, max_length, num_beams, length_penalty, no_repeat_ngram_size...) set the
    generation defaults. Results: ``{"summary_text": ...}`` (``summary_token_ids`` with
    ``return_tensors=True``). A ``max_length`` below ``min_length``, or above the input's
    length, is warned about (and honoured), as transformers 4 did.

    >>> summarizer = pipeline("summarization", model="sshleifer/distilbart-cnn-12-6")
    >>> summarizer("An apple a day, keeps the doctor away", min_length=5, max_length=20)
    """

    return_name = "summary"

    def check_inputs(self, input_length, min_length, max_length):
        if max_length is None:
            return True
        if min_length is not None and max_length < min_length:
            logger.warning("Your min_length=%s must be inferior than your max_length=%s.", min_length, max_length)
        if input_length < max_length:
            logger.warning(
                "Your max_length is set to %s, but your input_length is only %s. Since this is a summarization task, "
                "where outputs shorter than the input are typically wanted, you might consider decreasing max_length "
                "manually, e.g. summarizer('...', max_length=%s)", max_length, input_length, input_length // 2,
            )
        return True


class TranslationPipeline(Text2TextGenerationPipeline):
    """Translates text (``pipeline("translation_en_to_fr")``; default model google-t5/t5-base for en->fr,
    en->de and en->ro).

    The task name picks the model's ``task_specific_params["translation_xx_to_yy"]``: T5's
    prefix ("translate English to French: ") and generation settings. A model without such an
    entry gets the text as it is (as in transformers 4; a warning says so when the model has
    prefixes for other pairs). The bare ``translation`` task takes the model's first
    ``translation_*`` entry. ``src_lang`` / ``tgt_lang`` are accepted and, as transformers 4
    did for every tokenizer without a language choice (T5's, BART's), do not change the
    direction: the task's prefix says it.
    Results: ``{"translation_text": ...}`` (``translation_token_ids`` with ``return_tensors``).
    """

    return_name = "translation"

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        params = getattr(model.config, "task_specific_params", None) or {}
        known = sorted(key for key in params if key.startswith("translation"))
        if known and self.task not in params:
            logger.warning("%s has no task_specific_params[%r] (it has %s): the inputs go to the model without a task "
                           "prefix, as in transformers 4.", type(model).__name__, self.task, known)

    def _sanitize_parameters(self, src_lang=None, tgt_lang=None, **kwargs):
        preprocess, forward, postprocess = super()._sanitize_parameters(**kwargs)
        task_languages = translation_languages(self.task) or (None, None)
        if (src_lang, tgt_lang) != (None, None) and (src_lang, tgt_lang) != task_languages:
            logger.warning("src_lang=%r / tgt_lang=%r are ignored: keras_tfm's tokenizers have no language choice, "
                           "so the task (%r) and its prefix decide the translation direction, as in transformers 4.",
                           src_lang, tgt_lang, self.task)
        return preprocess, forward, postprocess

    def check_inputs(self, input_length, min_length, max_length):
        if max_length is not None and input_length > 0.9 * max_length:
            logger.warning(
                "Your input_length: %s is bigger than 0.9 * max_length: %s. You might consider increasing your "
                "max_length manually, e.g. translator('...', max_length=400)", input_length, max_length,
            )
        return True
