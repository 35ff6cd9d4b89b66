"""What processors return: ``BatchFeature`` (a dict of arrays) and ``BatchEncoding`` (a tokenizer's).

Both convert their values to the tensors a user asks for with ``return_tensors``
("pt", "tf", "jax", "np", or None for Python lists), whatever the Keras backend, through
``keras_tfm.backend.tensors.to_framework_tensor``. This module does not import Keras
until a conversion is asked for.
"""

import sys

import numpy as np

RETURN_TENSORS = ("pt", "tf", "jax", "np")


def check_return_tensors(return_tensors):
    """Raises ValueError unless ``return_tensors`` is one of ``RETURN_TENSORS`` or None."""
    return_tensors = getattr(return_tensors, "value", return_tensors)  # transformers' TensorType enum
    if return_tensors is not None and return_tensors not in RETURN_TENSORS:
        raise ValueError(
            f"return_tensors={return_tensors!r} is not supported; use one of {RETURN_TENSORS} or None (lists)."
        )
    return return_tensors


def to_numpy(value):
    """A numpy array from a list, a numpy array, or a PyTorch / TensorFlow / JAX tensor."""
    if hasattr(value, "detach"):  # torch: leave the graph and the GPU
        value = value.detach().cpu()
    return np.asarray(value)


class BatchFeature(dict):
    """The output of an image processor, feature extractor or processor: a dict of arrays.

    Values are reached as keys or attributes (``batch["pixel_values"]``,
    ``batch.pixel_values``) and unpack into a model with ``model(**batch)``.

    Args:
        data: the values (lists, numpy arrays or tensors) by input name.
        tensor_type: "pt", "tf", "jax" or "np" to convert array-like values to those
            tensors now; None keeps them as they are.
        skip_tensor_conversion: names of values never to convert.
    """

    def __init__(self, data=None, tensor_type=None, skip_tensor_conversion=None):
        super().__init__(data or {})
        self._skip_tensor_conversion = set(skip_tensor_conversion or ())
        self.convert_to_tensors(tensor_type)

    @property
    def data(self):
        return self

    def __getitem__(self, key):
        if isinstance(key, str):
            return super().__getitem__(key)
        raise KeyError(f"{key!r}: index a {type(self).__name__} with a key name (str).")

    def __getattr__(self, name):  # only called when normal lookup fails
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return super().__getitem__(name)
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no attribute or key {name!r}.") from None

    def convert_to_tensors(self, tensor_type=None, skip_tensor_conversion=None):
        """Converts every array-like value to a tensor of ``tensor_type``; None changes nothing.

        Values that are not array-like (strings, dicts, lists of strings) and tensors
        already made are kept as they are.
        """
        tensor_type = check_return_tensors(tensor_type)
        if tensor_type is None:
            return self
        from keras_tfm.backend.tensors import to_framework_tensor  # lazy: it imports Keras

        skip = self._skip_tensor_conversion if skip_tensor_conversion is None else set(skip_tensor_conversion)
        for key, value in self.items():
            if key in skip:
                continue
            array = self._as_array(key, value, tensor_type)
            if array is not None:
                self[key] = to_framework_tensor(array, tensor_type)
        return self

    def _as_array(self, key, value, tensor_type):
        """``value`` as a numpy array, or None to keep it as it is."""
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, (int, float, bool, np.number)):
            return np.asarray(value)
        if not isinstance(value, (list, tuple)):
            return None  # a tensor already, or not array-like
        try:
            array = np.asarray(value)
        except ValueError:  # ragged: rows of different lengths
            if tensor_type == "np":
                return _object_array(value)  # as transformers: numpy holds ragged rows as objects
            raise ValueError(
                f"Unable to create a tensor for {key!r}: its items have different shapes. Pad them (padding=True) "
                "or pass return_tensors=None."
            ) from None
        if array.dtype.kind in "OUS":
            return None  # strings or mixed objects: not array-like
        if tensor_type != "np" and array.dtype == np.float64:
            array = array.astype(np.float32)  # Python floats become float32 tensors, as torch.tensor does
        return array

    def to(self, *args, **kwargs):
        """Moves PyTorch tensors to a device and casts floating-point ones to a dtype, as ``Tensor.to``.

        ``batch.to("cuda")``, ``batch.to(torch.float16)``, ``batch.to(device="cuda", dtype=...)``.
        Integer tensors (ids, masks) are moved, never cast. Other values are kept as they are.
        """
        torch = sys.modules.get("torch")
        if torch is None:  # no PyTorch tensor can be here
            return self
        device = kwargs.get("device")
        if device is None and args:
            if isinstance(args[0], (str, int, torch.device)):
                device = args[0]
            elif not isinstance(args[0], torch.dtype):
                raise ValueError(f"Cannot move a {type(self).__name__} to {args[0]!r}: pass a device or a dtype.")
        non_blocking = kwargs.get("non_blocking", False)
        for key, value in self.items():
            if not isinstance(value, torch.Tensor):
                continue
            if torch.is_floating_point(value):
                self[key] = value.to(*args, **kwargs)
            elif device is not None:
                self[key] = value.to(device=device, non_blocking=non_blocking)
        return self


def _object_array(rows):
    array = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        array[i] = np.asarray(row)
    return array


class BatchEncoding(BatchFeature):
    """The output of a tokenizer: ``input_ids``, ``attention_mask``... with attribute access.

    Unpacks into a model with ``model(**batch)``. ``batch.encodings`` holds the
    ``tokenizers.Encoding`` of each sequence (for ``tokens()``, ``word_ids()``...);
    ``batch[i]`` is the encoding of sequence ``i``, ``batch[a:b]`` a dict of rows.
    """

    def __init__(self, data=None, encodings=None, tensor_type=None, n_sequences=None):
        self._encodings = encodings
        if n_sequences is None and encodings:
            n_sequences = encodings[0].n_sequences
        self._n_sequences = n_sequences
        super().__init__(data, tensor_type=tensor_type)

    @property
    def encodings(self):
        return self._encodings

    @property
    def n_sequences(self):
        return self._n_sequences

    def __getitem__(self, key):
        if isinstance(key, str):
            return dict.__getitem__(self, key)
        if isinstance(key, int) and self._encodings is not None:
            return self._encodings[key]
        if isinstance(key, slice):
            return {name: value[key] for name, value in self.items()}
        raise KeyError(f"{key!r}: index a BatchEncoding with a key name, a sequence index or a slice.")

    def tokens(self, batch_index=0):
        """The token strings of sequence ``batch_index``."""
        return self._encoding(batch_index).tokens

    def word_ids(self, batch_index=0):
        """The index of the word each token comes from (None for special tokens)."""
        return self._encoding(batch_index).word_ids

    def sequence_ids(self, batch_index=0):
        """Which sequence of a pair (0 or 1) each token belongs to (None for special tokens)."""
        return self._encoding(batch_index).sequence_ids

    def _encoding(self, batch_index):
        if not self._encodings:
            raise ValueError("This BatchEncoding has no tokenizers.Encoding (it was not made by a tokenizer call).")
        return self._encodings[batch_index]

    def _as_array(self, key, value, tensor_type):
        """Token ids, masks and offsets: int64 arrays; rows of different lengths are an error."""
        if not isinstance(value, (list, tuple)):
            return value if isinstance(value, np.ndarray) else None
        lengths = {len(row) for row in value if isinstance(row, (list, tuple))}
        if len(lengths) > 1:
            raise ValueError(
                f"Unable to create a tensor: the sequences of {key!r} have different lengths "
                f"({', '.join(str(n) for n in sorted(lengths))}). Pass padding=True (and truncation=True) "
                "to get tensors of equal length, or return_tensors=None for lists."
            )
        return np.asarray(value, dtype=np.int64)
