"""``pytorch_model.bin``: a ``torch.save`` pickle of ``name -> tensor``.

Read with ``torch.load(weights_only=True, mmap=True)``: a pickle that carries code is
refused, never run, and tensors stay on disk until asked for.
"""

import numpy as np

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.tensor_io import TensorFile, np_dtype


class TorchBinFile(TensorFile):
    """``pytorch_model.bin``: ``torch.load(weights_only=True, mmap=True)``; code is refused, never run."""

    def __init__(self, path):
        self.path = path
        try:
            import torch
        except ImportError:
            raise CheckpointError(f"Reading {path} needs PyTorch (pip install torch).") from None
        try:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                state = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
        except Exception as e:
            raise CheckpointError(
                f"{path} cannot be read as plain tensors with torch.load(weights_only=True) (a pickle that "
                f"carries code is refused, and a truncated file fails here too): {_first_line(e)}"
            ) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path} does not hold a name -> tensor dictionary.")
        self._state = state

    def keys(self):
        return list(self._state)

    def info(self, name):
        t = self._state[name]
        return tuple(t.shape), np_dtype(str(t.dtype).replace("torch.", ""))

    def get(self, name):
        import torch

        t = self._state[name]
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np_dtype("bfloat16")).copy()
        return t.numpy().copy()


def _first_line(error):
    return (str(error).splitlines() or [type(error).__name__])[0]


def write_torch_bin(tensors, names, path, progress=None, **_):
    """``torch.save`` of ``names`` of ``tensors`` (bfloat16 kept); returns the bytes written."""
    import torch

    state, total = {}, 0
    for name in names:
        a = np.require(tensors[name], requirements="C")  # keeps 0-d tensors 0-d
        if str(a.dtype) == "bfloat16":
            state[name] = torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
        else:
            state[name] = torch.from_numpy(a.copy())
        total += a.nbytes
        if progress:
            progress(a.nbytes)
    torch.save(state, path)
    return total
