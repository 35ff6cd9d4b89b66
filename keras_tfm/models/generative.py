"""What a model that generates text declares; ``keras_tfm.generation`` provides the rest.

``generation/`` drives models (it calls them step by step), so models must not import it.
The dependency is inverted instead: a generating task model subclasses ``GenerativeModel``,
which names the capability (``generate()``, ``generation_config``) and delegates it to the
implementation that ``keras_tfm.generation`` installs here when it is imported, which
``import keras_tfm`` (and so any import of a model) always does.
"""

import os

import keras

from keras_tfm.layers.cache import KVCache
from keras_tfm.modeling_utils import _as_input
from keras_tfm.utils.io import saves_a_folder

_implementation = None


def install(implementation):
    """Called by ``keras_tfm.generation``: ``implementation`` has ``generate(model, ...)``,
    ``config_from_model(config)`` and ``config_from_pretrained(path, **hub_kwargs)``."""
    global _implementation
    _implementation = implementation


def _generation():
    if _implementation is None:
        raise RuntimeError("keras_tfm.generation is not imported: `import keras_tfm` installs generate().")
    return _implementation


def as_cache(cache):
    """A ``KVCache`` from a ``KVCache`` or a list of per-layer ``(keys, values)`` pairs."""
    return cache if isinstance(cache, KVCache) else KVCache.from_layers([tuple(layer) for layer in cache])


class GenerativeModel:
    """Mixin of task models that ``generate()``: a generation config, loaded and saved beside the
    model, and calls that take a ``past_key_values`` cache.

    ``stepper``: how ``generate()`` drives the model, ``"causal_lm"`` (decoder-only) or
    ``"encoder_decoder"``. ``generator``: the name of a model family's own ``generate()``
    (Whisper's language / task prompt and timestamps), None for the generic one. ``uses_learned_positions``: positions past
    ``max_position_embeddings`` do not exist (GPT-2), so generation may not run past them.
    """

    stepper = "causal_lm"
    uses_learned_positions = False
    generator = None  # a generate() of its own in keras_tfm.generation.GENERATORS ("whisper")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.generation_config = _generation().config_from_model(config)

    def __call__(self, *args, **kwargs):
        cache = kwargs.pop("past_key_values", None)
        if cache is None:
            return super().__call__(*args, **kwargs)
        # The KV cache must reach `call` as it is (not as an array of its tensors).
        return_dict = kwargs.pop("return_dict", None)
        args = [_as_input(a) for a in args]
        kwargs = {k: _as_input(v) for k, v in kwargs.items()}
        outputs = keras.Model.__call__(self, *args, past_key_values=as_cache(cache), **kwargs)
        return outputs.to_tuple() if return_dict is False else outputs

    def encoder_states_length(self, features_shape):
        """How many states the encoder makes from float inputs of ``features_shape`` (its
        ``main_input_name``: Whisper's input_features, an image encoder's pixel_values):
        the length of generate's mask over them. Models with such an encoder define it."""
        if hasattr(self, "_get_feat_extract_output_lengths"):
            return int(self._get_feat_extract_output_lengths(features_shape[-1]))
        raise NotImplementedError(f"{type(self).__name__} does not say how many states its encoder makes "
                                  "(encoder_states_length).")

    def generate(self, *args, **kwargs):
        """Generates token ids as ``transformers``' ``generate`` does (``keras_tfm.generation``)."""
        return _generation().generate(self, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        hub = {k: kwargs[k] for k in ("revision", "cache_dir", "local_files_only", "token", "subfolder") if k in kwargs}
        try:
            model.generation_config = _generation().config_from_pretrained(pretrained_model_name_or_path, **hub)
        except (OSError, ValueError):
            model.generation_config = _generation().config_from_model(model.config)
        return loaded

    @saves_a_folder
    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        self.generation_config.save_pretrained(os.fspath(save_directory))
