"""``PreTrainedModel``: a Keras 3 model with Hugging Face's loading, saving and calling habits.

On the torch backend a Keras layer is a ``torch.nn.Module``, so ``.eval()``,
``.parameters()`` and ``torch.no_grad()`` work on every model here.
"""

import copy
import logging
import os

import keras
import numpy as np

from keras_tfm import backend
from keras_tfm.checkpoints import saving
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.loading import load_pretrained_weights, report_loading, source_format
from keras_tfm.checkpoints.tensor_io import source_info
from keras_tfm.checkpoints.weight_map import IDENTITY, TRANSPOSE
from keras_tfm.configuration_utils import PretrainedConfig, pop_hub_kwargs
from keras_tfm.deferred_init import deferred_initialization, deferring, fill, forget_deferred, initialize_deferred
from keras_tfm.quantization import quantization_settings, quantize_model
from keras_tfm.training.keras_mixin import KerasTrainingMixin
from keras_tfm.utils.io import saves_a_folder

logger = logging.getLogger(__name__)

_ALIASES = frozenset({"base_model"})  # attributes that name another part of the model (see __dir__)

DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "auto": None}


def _normalize_dtype(dtype):
    if dtype is None or isinstance(dtype, keras.DTypePolicy):
        return dtype
    name = str(dtype).replace("torch.", "").replace("<dtype: '", "").rstrip("'>")
    if name not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; use one of {sorted(DTYPES)}.")
    return DTYPES[name]


def named_variables(layer):
    """``{path: variable}`` named by attribute names (``backbone.encoder.layers.0.attention...``).

    Paths come from the Python attribute structure, not from Keras layer names, so they
    are the same for every instance. A variable reachable twice (tied weights) keeps
    its first path.
    """
    found, seen = {}, set()

    def walk(obj, prefix):
        if isinstance(obj, keras.layers.Layer):
            if id(obj) in seen:
                return
            seen.add(id(obj))
            for v in obj._trainable_variables + obj._non_trainable_variables:
                found.setdefault(prefix + v.name, v)
            # On the torch backend, sub-layers live in torch's `_modules`, not `__dict__`.
            attributes = {**vars(obj), **getattr(obj, "_modules", {})}
            for attr, value in attributes.items():
                if not attr.startswith("_") and attr != "config":
                    walk(value, f"{prefix}{attr}.")
        elif isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                walk(item, f"{prefix}{i}.")

    walk(layer, "")
    return found


class PreTrainedModel(KerasTrainingMixin, keras.Model):
    """Base class of every model: ``from_pretrained``, ``save_pretrained``, HF-style calls.

    Subclasses set ``config_class``, ``base_model_prefix``, ``weight_map`` (a
    ``WeightMap``) and implement ``call`` returning a ``ModelOutput``.
    """

    config_class = PretrainedConfig
    base_model_prefix = ""
    weight_map = None
    main_input_name = "input_ids"
    # Constructor arguments other than the config that ``from_pretrained`` passes on to the model
    # (``ResNetBackbone(config, frozen_batch_norm=True)``) instead of overriding config fields.
    init_arguments = ()

    def __init__(self, config, dtype=None, **kwargs):
        if not isinstance(config, PretrainedConfig):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}.")
        super().__init__(dtype=_normalize_dtype(dtype), **kwargs)
        self.config = config

    # ---- calling -------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        # Accept numpy arrays, python lists and backend tensors alike, as HF users pass them.
        return_dict = kwargs.pop("return_dict", None)
        args = [_as_input(a) for a in args]
        kwargs = {k: _as_input(v) for k, v in kwargs.items()}
        outputs = super().__call__(*args, **kwargs)
        return outputs.to_tuple() if return_dict is False else outputs

    def dummy_inputs(self):
        vocab_size = getattr(self.config, "vocab_size", None) or 3
        return {"input_ids": np.minimum(np.array([[1, 2]], dtype="int32"), vocab_size - 1)}

    def build_weights(self):
        """Creates every variable by running the model once on a tiny input."""
        if not self.built or not self.weights:
            with backend.inference_mode():
                if deferring():  # no variable gets a value: tracing shapes builds them all (JAX: nothing compiled)
                    backend.shapes_only(lambda: self(**self.dummy_inputs()))
                else:
                    self(**self.dummy_inputs())
        return self

    @property
    def base_model(self):
        return getattr(self, "backbone", self)

    def __dir__(self):
        # Keras' saver and loader walk dir(model) and recurse into every Keras object they find.
        # base_model is an alias (of the backbone, or of the model itself), not a part of the saved
        # tree: listed, it would make the loader recurse into the model forever.
        return [name for name in super().__dir__() if name not in _ALIASES]

    def get_config(self):
        return {"config": self.config.to_dict(), "dtype": self.dtype_policy.name}

    @classmethod
    def from_config(cls, config, **kwargs):
        """Builds a randomly initialised model from a config (HF) or a Keras config dict."""
        if isinstance(config, dict) and "config" in config:  # Keras deserialization
            return cls(cls.config_class.from_dict(config["config"]), dtype=config.get("dtype"))
        if isinstance(config, dict):
            config = cls.config_class.from_dict(config)
        return cls(config, **kwargs).build_weights()

    def quantize(self, mode="int8", config=None, weight_only=False):
        """Quantizes the model's Dense and Embedding layers to int8 in place, with Keras' own quantization
        (an int8 kernel and one scale per output channel; Keras' default also quantizes each Dense layer's
        inputs per token, ``weight_only=True`` keeps them in float). Save it with
        ``save_pretrained(format="keras")``; ``from_pretrained`` reads it back quantized. Returns None, as
        Keras' ``quantize`` does (its wrapper drops what the method returns).

        ``config``: what Keras' ``quantize`` wrapper resolves ``mode`` to (an ``Int8QuantizationConfig``);
        one without an activation quantizer means weight-only."""
        if config is not None and getattr(config, "activation_quantizer", "default") is None:
            weight_only = True
        quantize_model(self, quantization_settings({"mode": mode, "weight_only": weight_only}))

    def num_parameters(self):
        return int(sum(np.prod(v.shape) for v in named_variables(self).values()))

    # ---- weights in HF names --------------------------------------------------------
    def state_dict_hf(self):
        """``{hf_name: numpy array}`` in Hugging Face PyTorch names and layouts."""
        self.build_weights()
        out = {}
        for path, variable in named_variables(self).items():
            name = self.weight_map.hf_name(path)
            out[name] = self.weight_map.transform_for(path).to_hf(backend.to_numpy(keras.ops.convert_to_numpy(variable.value)))
            out.update(self.weight_map.companions_of(path))
        return out

    def load_state_dict_hf(self, state, ignore_mismatched_sizes=False):
        """Assigns weights from ``{hf_name: array}``; returns the loading report.

        The report has HF's keys: ``missing_keys`` (variables left at their fresh
        initialisation), ``unexpected_keys`` (checkpoint tensors not used) and
        ``mismatched_keys``.
        """
        self.build_weights()
        variables = named_variables(self)
        loaded, unexpected, mismatched = set(), [], []
        for name in state:
            path = self.weight_map.keras_path(name)
            if path is None:
                continue  # known and deliberately skipped (buffers, tied weights)
            if path is False or path not in variables:
                if path and self.weight_map.is_optional(name):
                    continue  # a variable this model does not have (a tied lm_head)
                unexpected.append(name)
                continue
            variable = variables[path]
            transform = self.weight_map.transform_for(path)
            stored, wanted = _header_shape(state, name, transform, variable)
            if stored != wanted:  # known from the headers: the tensor is never read
                mismatched.append((name, stored, wanted))
                continue
            array = transform.to_keras(state[name])
            if tuple(array.shape) != tuple(variable.shape):
                # both shapes in the checkpoint's layout, as HF reports them
                mismatched.append((name, tuple(np.shape(state[name])), _checkpoint_shape(transform, variable)))
                continue
            fill(variable, array.astype(variable.dtype, copy=False) if hasattr(array, "astype") else array)
            loaded.add(path)
        where = state.file_of(next(iter(state))) if state and hasattr(state, "file_of") else "the checkpoint"
        if mismatched and not ignore_mismatched_sizes:
            raise CheckpointError(
                f"Error(s) in loading the weights of {where} into {type(self).__name__}:\n"
                + "".join(f"\tsize mismatch for {name}: shape {got} in the checkpoint, {want} in the model.\n"
                          for name, got, want in mismatched)
                + "\tCheck the config, or pass ignore_mismatched_sizes=True to from_pretrained to reinitialise them."
            )
        if variables and not loaded and not mismatched:
            raise CheckpointError(
                f"{where} provides none of {type(self).__name__}'s weights ({len(state)} tensors, e.g. "
                f"{sorted(state)[:3]}; the model wants e.g. {[self.weight_map.hf_name(p) for p in list(variables)[:3]]}). "
                "Is it a checkpoint of another architecture?"
            )
        forget_deferred(variables[p] for p in loaded)
        initialize_deferred(self.weights)  # the ones left: new heads, reinitialised sizes
        skipped = {name for name, _, _ in mismatched}
        missing = [n for n in (self.weight_map.hf_name(p) for p in variables if p not in loaded) if n not in skipped]
        return {"missing_keys": missing, "unexpected_keys": unexpected, "mismatched_keys": mismatched}

    # ---- from_pretrained / save_pretrained -------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, config=None, dtype=None, torch_dtype=None,
                        ignore_mismatched_sizes=False, output_loading_info=False, **kwargs):
        """Loads a model from a local folder or a hub id, as ``transformers`` does.

        Extra keyword arguments override config fields (``num_labels=5``,
        ``id2label=...``, ``output_hidden_states=True``); hub arguments are
        ``revision``, ``cache_dir``, ``local_files_only``, ``token``, ``subfolder``.
        ``quantization_config="int8"`` (or ``{"mode": "int8", "weight_only": True}``) quantizes the
        loaded model (see ``quantize``).
        """
        hub_kwargs = pop_hub_kwargs(kwargs)
        quantization = kwargs.pop("quantization_config", None)
        quantization = None if quantization is None else quantization_settings(quantization)
        if kwargs.pop("trust_remote_code", None):
            raise ValueError("trust_remote_code=True is not supported: keras_tfm never runs code from a checkpoint.")
        # from_pt / from_tf / from_flax / use_safetensors as in HF; weights_format= names any format
        # (safetensors, bin, pt, tf, flax, keras). Without them: detected, safetensors first.
        init_kwargs = {name: kwargs.pop(name) for name in cls.init_arguments if name in kwargs}
        weights_format = kwargs.pop("weights_format", None) or source_format(
            **{f: kwargs.pop(f, None) for f in ("from_pt", "from_tf", "from_flax", "use_safetensors")})
        if config is None:
            config = cls.config_class.from_pretrained(pretrained_model_name_or_path, **hub_kwargs, **kwargs)
        else:
            config = cls.config_class.from_dict(config.to_dict(), **kwargs) if kwargs else copy.deepcopy(config)
        with deferred_initialization():  # the checkpoint fills the variables: no random draws first
            model = cls(config, dtype=dtype or torch_dtype, **init_kwargs)
            info = load_pretrained_weights(model, pretrained_model_name_or_path, weights_format,
                                           ignore_mismatched_sizes=ignore_mismatched_sizes, **hub_kwargs)
        report_loading(cls.__name__, pretrained_model_name_or_path, info)
        if quantization is not None:
            quantize_model(model, quantization)
        model.name_or_path = os.fspath(pretrained_model_name_or_path)
        return (model, info) if output_loading_info else model

    @saves_a_folder
    def save_pretrained(self, save_directory, max_shard_size="5GB", safe_serialization=True, format="pt"):
        """Writes ``config.json`` and the weights in HF PyTorch layout, loadable by ``transformers``.

        ``format``: ``"pt"`` (default: safetensors, or ``pytorch_model.bin`` with
        ``safe_serialization=False``), ``"tf"`` (``tf_model.h5``), ``"flax"``
        (``flax_model.msgpack``), ``"keras"`` (Keras-native ``model.weights.h5``) or
        ``"keras_archive"`` (``model.keras``).
        """
        return saving.save_pretrained(self, save_directory, format, max_shard_size=max_shard_size,
                                      safe_serialization=safe_serialization)


def _header_shape(state, name, transform, variable):
    """(the tensor's shape from the file's header, the variable's shape in that layout) where the transform is a
    plain copy or transpose; (None, None) otherwise, and the shapes are compared after conversion."""
    if transform not in (IDENTITY, TRANSPOSE):
        return None, None
    shape = tuple(source_info(state, name)[0])
    wanted = tuple(variable.shape)
    return shape, (wanted if transform is IDENTITY else wanted[::-1])


def _checkpoint_shape(transform, variable):
    """A variable's shape in the checkpoint's layout (a Dense kernel (in, out) is a Linear weight (out, in))."""
    try:
        return tuple(np.shape(transform.to_hf(np.zeros(tuple(variable.shape), "float32"))))
    except Exception:  # a transform that needs more than the shape: the Keras shape, said so
        return f"{tuple(variable.shape)} (Keras layout)"


def _as_input(value):
    # lists of strings, and of per-image target dicts (DETR's labels), are passed as they are
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (str, dict)):
        return np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype == np.int64:
        return value.astype("int32")
    return value
