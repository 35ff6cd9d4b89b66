"""Checkpoints: finding them (local folder or hub cache), reading and writing every format, loading and saving models.

Modules, lower first; each imports only modules listed above it:

- ``errors``, ``hub``: ``CheckpointError``; resolving a file of a folder or hub id.
- ``tensor_io``: the format base (``TensorFile``; lazy ``Checkpoint`` / ``Renamed`` / ``Cast`` views; raw byte copies).
- ``formats_safetensors``, ``formats_torch``, ``formats_h5``, ``formats_msgpack``: one reader and one writer per format.
- ``weight_map``, ``conversion_tables``: HF name <-> keras variable rules; each architecture's tables, by model_type.
- ``naming``, ``tf_names``, ``flax_names``: PyTorch <-> TF / Flax tensor names.
- ``formats``: the table of formats; finding, opening and writing checkpoints in HF names.
- ``loading``, ``saving``: ``from_pretrained`` / ``save_pretrained`` weights.
- ``convert``: ``keras-tfm convert``, file to file.
"""
