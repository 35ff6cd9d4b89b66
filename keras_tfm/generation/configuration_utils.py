"""``GenerationConfig``: the decoding parameters of ``generate()``, with HF's names and defaults."""

import copy
import logging
import os

from keras_tfm.checkpoints.hub import resolve_file
from keras_tfm.configuration_utils import json_string, pop_hub_kwargs, read_config_dict, write_json_file
from keras_tfm.utils.io import saves_a_folder

logger = logging.getLogger(__name__)

GENERATION_CONFIG_NAME = "generation_config.json"

DEFAULTS = {
    "max_length": 20,
    "max_new_tokens": None,
    "min_length": 0,
    "min_new_tokens": None,
    "early_stopping": False,
    "max_time": None,
    "stop_strings": None,
    "do_sample": False,
    "num_beams": 1,
    "use_cache": True,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "min_p": None,
    "repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "renormalize_logits": False,
    "num_return_sequences": 1,
    "output_scores": False,
    "output_logits": False,
    "return_dict_in_generate": False,
    "pad_token_id": None,
    "bos_token_id": None,
    "eos_token_id": None,
    "decoder_start_token_id": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
}
SPECIAL_TOKENS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
# Accepted (HF names) but with no effect here: they do not change which tokens come out.
IGNORED = {"output_attentions", "output_hidden_states", "cache_implementation", "compile_config", "low_memory",
           "transformers_version", "_from_model_config", "synced_gpus", "assistant_model"}


class GenerationConfig:
    """Decoding parameters (``max_new_tokens``, ``do_sample``, ``top_k``, ``num_beams``...).

    Unknown keys read from a ``generation_config.json`` are kept (a round trip loses
    nothing); unknown keyword arguments passed to ``generate()`` are an error. The keys given
    (to the constructor, in the file, or to ``update``) are remembered: a config passed to
    ``generate()`` takes the model's values for the others, as transformers 5 does.
    """

    def __init__(self, **kwargs):
        self._given = {key for key in kwargs if not key.startswith("_")}
        for key, value in DEFAULTS.items():
            setattr(self, key, copy.deepcopy(kwargs.pop(key, value)))
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def from_model_config(cls, config):
        """The model config's special tokens and the generation parameters it sets (BART's
        summarization ``max_length``, ``num_beams``, ``no_repeat_ngram_size``...), as transformers
        does: a parameter counts as set when it is not None and differs from the default."""
        values = {k: getattr(config, k, None) for k in SPECIAL_TOKENS}
        for key, default in DEFAULTS.items():
            value = getattr(config, key, None)
            if key not in values and value is not None and value != default:
                values[key] = copy.deepcopy(value)
        decoder = getattr(config, "decoder", None)
        if decoder is not None and hasattr(decoder, "to_dict"):  # a composite (VisionEncoderDecoder): what is
            inner = cls.from_model_config(decoder)                # unset outside is taken from its decoder
            for key in inner._given:
                if values.get(key) is None and getattr(inner, key, None) is not None:
                    values[key] = copy.deepcopy(getattr(inner, key))
        if getattr(config, "force_bos_token_to_be_generated", False):  # the older name of forced_bos_token_id
            values["forced_bos_token_id"] = values["bos_token_id"]
        return cls(**values, _from_model_config=True)

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        return cls(**{**config_dict, **kwargs})

    @classmethod
    def from_pretrained(cls, pretrained_model_name, config_file_name=None, **kwargs):
        hub = pop_hub_kwargs(kwargs)
        path = resolve_file(pretrained_model_name, config_file_name or GENERATION_CONFIG_NAME, **hub)
        return cls.from_dict(read_config_dict(path), **kwargs)

    def to_dict(self):
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("_")}

    def to_diff_dict(self):
        return {k: v for k, v in self.to_dict().items() if k not in DEFAULTS or DEFAULTS[k] != v}

    def to_json_string(self):
        return json_string(self.to_diff_dict())

    @saves_a_folder
    def save_pretrained(self, save_directory, config_file_name=None):
        os.makedirs(save_directory, exist_ok=True)
        write_json_file(os.path.join(save_directory, config_file_name or GENERATION_CONFIG_NAME), self.to_diff_dict())

    def update(self, **kwargs):
        """Sets the known fields among ``kwargs``; returns the others (HF's contract)."""
        unused = {}
        for key, value in kwargs.items():
            if key in DEFAULTS or key in IGNORED or key in self.__dict__:
                setattr(self, key, value)
                self._given.add(key)
            else:
                unused[key] = value
        return unused

    def over(self, base):
        """A copy of ``base`` with the keys given to this config set to this config's values."""
        merged = copy.deepcopy(base)
        for key in self._given:
            setattr(merged, key, copy.deepcopy(getattr(self, key)))
        merged._given = base._given | self._given
        return merged

    def validate(self):
        if self.max_new_tokens is not None and (not isinstance(self.max_new_tokens, int) or self.max_new_tokens <= 0):
            raise ValueError(f"`max_new_tokens` must be a positive int, but is {self.max_new_tokens!r}.")
        if self.max_new_tokens is None and (self.max_length is None or self.max_length <= 0):
            raise ValueError(f"`max_length` must be a positive int, but is {self.max_length!r}.")
        if not isinstance(self.num_beams, int) or self.num_beams < 1:
            raise ValueError(f"`num_beams` must be a positive int, but is {self.num_beams!r}.")
        if self.num_return_sequences < 1:
            raise ValueError(f"`num_return_sequences` must be >= 1, but is {self.num_return_sequences!r}.")
        if self.num_beams > 1 and self.num_return_sequences > self.num_beams:
            raise ValueError(f"`num_return_sequences` ({self.num_return_sequences}) has to be smaller or equal to "
                             f"`num_beams` ({self.num_beams}).")
        if self.num_beams == 1 and not self.do_sample and self.num_return_sequences > 1:
            raise ValueError("Greedy search returns one sequence per input: `num_return_sequences` > 1 needs "
                             "`do_sample=True` or `num_beams` > 1.")
        if self.do_sample:
            if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
                raise ValueError(f"`temperature` must be a strictly positive float, but is {self.temperature!r}.")
            if self.top_p is not None and not 0.0 <= self.top_p <= 1.0:
                raise ValueError(f"`top_p` has to be a float in [0, 1], but is {self.top_p!r}.")
            if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 0):
                raise ValueError(f"`top_k` has to be a non-negative int, but is {self.top_k!r}.")
            if self.min_p is not None and not 0.0 <= self.min_p <= 1.0:
                raise ValueError(f"`min_p` has to be a float in [0, 1], but is {self.min_p!r}.")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise ValueError(f"`repetition_penalty` has to be strictly positive, but is {self.repetition_penalty!r}.")
        if self.early_stopping not in (True, False, "never"):
            raise ValueError(f"`early_stopping` must be True, False or 'never', got {self.early_stopping!r}.")

    def __eq__(self, other):
        return isinstance(other, GenerationConfig) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"GenerationConfig {self.to_json_string()}"
