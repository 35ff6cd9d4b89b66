"""``keras-tfm env [--json]``: versions and devices to paste into a bug report, as ``transformers env``."""

import importlib.metadata
import json
import os
import platform


def add_parser(sub):
    p = sub.add_parser("env", help="print versions, backends and devices (for bug reports)",
                       description="Prints keras_tfm's, Keras' and each backend's versions, the active backend "
                       "and its devices, and the hub settings, as `transformers env` does.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def version(distribution):
    """The installed version of ``distribution`` (read from its metadata: nothing is imported), or "not installed"."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def devices(backend):
    """The devices the ``backend`` sees, as strings ("cpu:0", "cuda:0 (NVIDIA H100)"...)."""
    if backend == "torch":
        import torch

        found = ["cpu"]
        if torch.cuda.is_available():
            found += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            found.append("mps")
        return found
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name.replace("/device:", "").lower() for d in tf.config.list_logical_devices()]
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" + (f" ({d.device_kind})" if d.platform != "cpu" else "") for d in jax.devices()]
    return []


def collect():
    """The report as an ordered dict."""
    import huggingface_hub
    import keras

    backend = keras.backend.backend()
    return {
        "keras_tfm version": version("keras-tfm"),
        "Keras version": keras.__version__,
        "Platform": platform.platform(),
        "Python version": platform.python_version(),
        "PyTorch version": version("torch"),
        "TensorFlow version": version("tensorflow-cpu") if version("tensorflow") == "not installed"
        else version("tensorflow"),
        "JAX version": version("jax"),
        "Keras backend": backend + ("" if os.environ.get("KERAS_BACKEND") else " (from ~/.keras/keras.json or "
                                    "Keras' default; set KERAS_BACKEND to choose)"),
        "Devices": ", ".join(devices(backend)),
        "Huggingface_hub version": huggingface_hub.__version__,
        "Safetensors version": version("safetensors"),
        "Tokenizers version": version("tokenizers"),
        "HF_HUB_OFFLINE": str(bool(huggingface_hub.constants.HF_HUB_OFFLINE)),
        "Hub cache": huggingface_hub.constants.HF_HUB_CACHE,
    }


def main(args, argv=None):
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\nCopy-and-paste the text below in your GitHub issue.\n")
        print("\n".join(f"- {key}: {value}" for key, value in info.items()))
        print()
    return 0
