"""Checkpoint conversion between every format: the engine of ``keras-tfm convert``.

``convert(src, dst, to=...)`` goes straight from file to file when no model is needed
(PyTorch <-> TF <-> Flax names are pure renames and transposes): tensors stream one at a
time from the source reader through the name translation and an optional dtype cast into
the target writer, so memory stays near the largest tensor (or shard, for ``.bin`` and
``.h5``). The Keras-native format goes through the model (its file layout is the
model's). The output is built in a temporary folder beside ``dst`` and renamed at the
end: a failed conversion leaves nothing behind.
"""

import json
import logging
import os
import shutil

import numpy as np

from keras_tfm.checkpoints.conversion_tables import conversion_tables
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.formats import FORMATS, find_checkpoint, open_hf_state, write_hf_state
from keras_tfm.checkpoints.naming import class_weight_map, model_class, read_config
from keras_tfm.checkpoints.tensor_io import nbytes_of, source_info
from keras_tfm.utils.io import STAGE_MARK, staged_folder

logger = logging.getLogger(__name__)

TARGETS = ("pt", "safetensors", "bin", "tf", "flax", "keras", "keras_archive")
# Files copied along with the weights (config, tokenizer, processors, generation).
SIDE_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
    "tokenizer.model", "preprocessor_config.json", "feature_extractor_config.json", "processor_config.json",
    "chat_template.jinja", "chat_template.json",
)


def target_format(to, safe_serialization=True):
    if to not in TARGETS:
        raise ValueError(f"Unknown target format {to!r}; use one of {', '.join(TARGETS)}.")
    if to == "pt":
        return "safetensors" if safe_serialization else "bin"
    return to


def check_mappable(state, cls, where=""):
    """Raises CheckpointError naming the file and tensor for a name the architecture cannot map."""
    weight_map = class_weight_map(cls)
    if weight_map is None:  # no class, or a table that needs the config: the loading model checks
        return
    for name in state:
        if weight_map.keras_path(name) is False:
            src = state.file_of(name) if hasattr(state, "file_of") else where
            original = state.source_name(name) if hasattr(state, "source_name") else name
            raise CheckpointError(
                f"Tensor {original!r} in {src} (PyTorch name {name!r}) does not map to any weight of "
                f"{cls.__name__}: no conversion rule covers it. Is config.json's architecture right?"
            )


def _progress_bar(total, desc, enabled):
    if not enabled:
        return None, None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, None
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc)
    return bar, bar.update


def _nbytes(state):
    return sum(nbytes_of(*source_info(state, name)) for name in state)


def _model_from_folder(src, config, fmt=None, dtype=None):
    arch = (config.get("architectures") or [None])[0]
    cls = model_class(arch) if arch else None
    if cls is None:
        raise CheckpointError(
            f"{src}: config.json names the architecture {arch!r}, which keras_tfm does not implement; "
            "this conversion needs the model (Keras format or --check)."
        )
    return cls.from_pretrained(src, weights_format=fmt, dtype=dtype)


def convert(src, dst, to="pt", dtype=None, max_shard_size="5GB", check=False, progress=True, overwrite=False,
            from_format=None, safe_serialization=True):
    """Converts the checkpoint folder ``src`` into a new folder ``dst`` in format ``to``.

    Returns a report dict: source and target formats, files written, bytes, and with
    ``check=True`` the max abs difference between the two loaded in keras_tfm.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    fmt = target_format(to, safe_serialization)
    if dtype is not None and dtype not in ("float32", "float16", "bfloat16", "float64"):
        raise ValueError(f"--dtype {dtype!r}: use float32, float16 or bfloat16.")
    if not os.path.isdir(src):
        raise CheckpointError(f"{src!r} is not a folder holding a checkpoint.")
    if os.path.exists(dst) and (not os.path.isdir(dst) or (os.listdir(dst) and not overwrite)):
        raise FileExistsError(f"{dst!r} exists and is not empty; pass overwrite=True (--overwrite) or another folder.")
    config = read_config(src)
    src_fmt, _ = find_checkpoint(src, from_format)
    report = {"source": src, "source_format": src_fmt, "target": dst, "target_format": fmt}
    # Written into a hidden sibling and swapped in whole: killed at any moment, dst is the old folder or the new.
    with staged_folder(dst, keep_old_files=False) as tmp:
        # An architecture whose formats differ by more than renames and transposes (a fused
        # tensor split one way, a reshape) sets convert_through_model in its conversion tables.
        through_model = conversion_tables(config.get("model_type")).convert_through_model
        if src_fmt == "keras" or fmt.startswith("keras") or through_model:
            report["path"] = "through the model"
            model = _model_from_folder(src, config, src_fmt, dtype=dtype)
            if fmt.startswith("keras"):
                model.save_pretrained(tmp, format=fmt)
            else:
                model.save_pretrained(tmp, format=fmt, max_shard_size=max_shard_size,
                                      safe_serialization=fmt != "bin")
        else:
            report["path"] = "file to file"
            arch = (config.get("architectures") or [None])[0]
            state = open_hf_state(src, src_fmt, model_type=config.get("model_type"), architecture=arch)
            check_mappable(state, model_class(arch) if arch else None, src)
            bar, update = _progress_bar(_nbytes(state), f"{src_fmt} -> {fmt}", progress)
            try:
                write_hf_state(state, tmp, fmt, config, max_shard_size=max_shard_size, dtype=dtype, progress=update)
            finally:
                if bar is not None:
                    bar.close()
        _copy_side_files(src, tmp, dtype)
        report["files"] = sorted(f for f in os.listdir(tmp) if f != STAGE_MARK)
        report["bytes"] = sum(os.path.getsize(os.path.join(tmp, f)) for f in report["files"])
    if check:
        report["max_abs_diff"] = check_conversion(src, dst, src_fmt, fmt)
    return report


def _copy_side_files(src, dst, dtype):
    for name in SIDE_FILES:
        path = os.path.join(src, name)
        if not os.path.isfile(path) or os.path.exists(os.path.join(dst, name)):
            continue
        if name == "config.json" and dtype:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
            config["dtype" if "dtype" in config or "torch_dtype" not in config else "torch_dtype"] = dtype
            with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
                json.dump(config, f, indent=2, sort_keys=True)
                f.write("\n")
        else:
            shutil.copyfile(path, os.path.join(dst, name))


def random_inputs(config, batch=2, length=8, seed=0):
    rng = np.random.RandomState(seed)
    vocab = int(config.get("vocab_size") or 100)
    ids = rng.randint(min(5, vocab - 1), vocab, (batch, length)).astype("int32")
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def check_conversion(src, dst, src_fmt=None, dst_fmt=None):
    """Loads both checkpoints in keras_tfm, runs them on one random input, returns the max abs difference."""
    from keras_tfm import backend

    config = read_config(src)
    a = _model_from_folder(src, config, src_fmt)
    b = _model_from_folder(dst, read_config(dst), dst_fmt)
    inputs = random_inputs(config)
    out_a, out_b = a(**inputs), b(**inputs)
    worst = 0.0
    for key in out_a.keys():
        x, y = out_a[key], out_b[key]
        if isinstance(x, (tuple, list)) or x is None:
            continue
        x = np.asarray(backend.to_numpy(x), dtype="float32")
        y = np.asarray(backend.to_numpy(y), dtype="float32")
        worst = max(worst, float(np.abs(x - y).max()))
    return worst


__all__ = ["convert", "check_conversion", "write_hf_state", "target_format", "FORMATS"]
