"""``GenerationPipeline``: the base of the pipelines that run ``model.generate`` on each batch.

text-generation uses it; summarization, speech recognition and image-to-text will. It owns
the generation settings, as Hugging Face transformers 5 does:

1. the model's ``generation_config`` (its ``generation_config.json``) is the base;
2. the generation arguments given when the pipeline was made, then those of the call (a
   call that passes its own ``generation_config`` replaces those given at init);
3. the pipeline's own defaults (``_default_generation_config``, e.g. ``max_new_tokens=256``)
   fill only what none of the above set; sampling parameters (``temperature``...) only
   when sampling.

So a model whose ``generation_config.json`` says ``max_new_tokens=12`` generates 12 tokens
in a pipeline, and a call's ``max_new_tokens`` beats both.
"""

import copy
import logging

import numpy as np

from keras_tfm import backend
from keras_tfm.generation import GenerationConfig
from keras_tfm.pipelines.base import Pipeline

logger = logging.getLogger(__name__)

# Pipeline defaults for these apply only when sampling (greedy search does not read them).
SAMPLING_PARAMS = frozenset({"temperature", "top_k", "top_p", "min_p", "top_h", "typical_p", "epsilon_cutoff",
                             "eta_cutoff"})


class GenerationPipeline(Pipeline):
    """A pipeline whose forward step is ``model.generate`` (see the module docstring for its settings).

    Subclasses set ``_default_generation_config`` (a ``GenerationConfig`` of the defaults
    that apply where neither the user nor the model set a value) and
    ``_non_generation_params`` (their own arguments that are named like generation
    parameters, such as a ``top_k`` number of answers). ``_forward`` returns
    ``{"sequences": (batch, num_return_sequences, length) int array}``.
    """

    output_keys = ("sequences",)
    pad_to_multiple_of = 0  # generate() compiles its own steps; extra padding would only add work
    _default_generation_config = None
    _non_generation_params = ()

    def __init__(self, model, *args, **kwargs):
        generation_keys = set(GenerationConfig().to_dict()) - set(self._non_generation_params)
        generation_keys.add("generation_config")
        # Generation arguments given at init: they apply to every call, unless the call passes a generation_config.
        self._generate_kwargs = {key: kwargs.pop(key) for key in generation_keys & kwargs.keys()}
        if self._generate_kwargs.get("generation_config", "") is None:
            self._generate_kwargs.pop("generation_config")
        super().__init__(model, *args, **kwargs)
        defaults = self._default_generation_config
        self._generation_defaults = {} if defaults is None else defaults.to_diff_dict()
        self._generation_defaults.pop("transformers_version", None)
        pad_token_id = getattr(self.tokenizer, "pad_token_id", None)
        if pad_token_id is not None:
            self._generation_defaults["pad_token_id"] = pad_token_id

    def _prepare_generate_kwargs(self, generate_kwargs, **overrides):
        """The ``generate()`` arguments of a call: the user's, then the pipeline's ``overrides``, then its
        defaults where nothing (user or model) set the parameter.

        What the pipeline adds goes into a copy of the user's ``generation_config`` when the
        call passes one, so that ``generate()`` sees one complete config.
        """
        if "generation_config" not in generate_kwargs:
            generate_kwargs = {**self._generate_kwargs, **generate_kwargs}
        set_params = self._get_set_generation_params(generate_kwargs)
        added = {
            key: value for key, value in self._generation_defaults.items()
            # a default max_new_tokens would also beat a max_length that is set
            if key not in set_params and not (key == "max_new_tokens" and "max_length" in set_params)
        }
        if not {**set_params, **added}.get("do_sample"):
            added = {key: value for key, value in added.items() if key not in SAMPLING_PARAMS}
        added.update(overrides)
        user_config = generate_kwargs.get("generation_config")
        if user_config is None:
            return {**generate_kwargs, **added}
        user_config = copy.deepcopy(user_config)
        user_config.update(**added)
        return {**generate_kwargs, "generation_config": user_config}

    def _get_set_generation_params(self, generate_kwargs):
        """The parameters a ``generate()`` call with ``generate_kwargs`` does not take from the global defaults:
        the kwargs, over their ``generation_config`` if any, over the model's generation config."""
        params = self.model.generation_config.to_diff_dict()
        user_config = generate_kwargs.get("generation_config")
        if user_config is not None:
            params.update(user_config.to_diff_dict())
        return {**params, **generate_kwargs}

    def _forward(self, batch, **generate_kwargs):
        kwargs = self._prepare_generate_kwargs(generate_kwargs)
        if kwargs.get("stop_strings") and self.tokenizer is not None:
            kwargs.setdefault("tokenizer", self.tokenizer)
        output = self.model.generate(**batch, **kwargs)
        sequences = getattr(output, "sequences", output)  # return_dict_in_generate=True gives an output object
        sequences = np.asarray(backend.to_numpy(sequences))
        rows = len(next(iter(batch.values())))
        return {"sequences": sequences.reshape(rows, -1, sequences.shape[-1])}

    def _unbatch(self, outputs, i, length):
        return {key: value[i] for key, value in outputs.items()}
