"""Hugging Face PyTorch state dicts (``model.safetensors`` / ``pytorch_model.bin``), by HF's function names.

A thin face of ``formats``, which holds the one reader and writer of each format.
"""

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.formats import PT_FORMATS, open_hf_state, write_checkpoint


def load_state_dict(path_or_id, **hub_kwargs):
    """The PyTorch weights of a folder or hub id as a lazy ``name -> numpy array`` mapping (safetensors first)."""
    return open_hf_state(path_or_id, "pt", **hub_kwargs)


def save_state_dict(tensors, folder, max_shard_size="5GB", safe_serialization=True):
    """Writes ``name -> array`` to ``folder`` as ``model.safetensors`` (or ``pytorch_model.bin``), sharded.

    Weight files of either PyTorch format left in the folder by an earlier save are
    removed, so the folder holds one checkpoint. Returns the file names written.
    """
    fmt = "safetensors" if safe_serialization else "bin"
    return write_checkpoint(tensors, folder, fmt, max_shard_size=max_shard_size,
                            replaces=[f for f in PT_FORMATS if f != fmt])


__all__ = ["CheckpointError", "PT_FORMATS", "load_state_dict", "save_state_dict"]
