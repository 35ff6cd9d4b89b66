"""Builds tests/fixtures/timm_resnet/: tiny timm ResNets made the way transformers 4's DETR makes its
timm backbone (``timm.create_model(name, features_only=True, out_indices=(1, 2, 3, 4))``), with random
batch-norm statistics: each one's state dict (``<key>.safetensors``, timm's names), an input image and
timm's feature maps (``<key>.npz``), and ``manifest.json`` (timm's arguments and the ``ResNetConfig``
fields they mean, read from the timm model: its stages' channels).

Run by hand in the fixture venv (timm 1.0 there), not by CI::

    /tmp/fixvenv/bin/python tests/make_timm_fixtures.py
"""

import json
import os

import numpy as np
import timm
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "timm_resnet")
OUT_INDICES = (1, 2, 3, 4)
# Tiny versions of DETR's resnet50 (bottleneck; an uneven stage) and of resnet18 (basic blocks). timm's
# plain stem is 64 wide whatever ``stem_width`` says (that is for its deep stems), so every first stage
# narrows it through a projection shortcut (layers without one: tests/test_resnet.py against HF).
MODELS = {
    "resnet50-tiny": ("resnet50", {"layers": [1, 2, 1, 1], "channels": (4, 4, 8, 8)}),
    "resnet18-tiny": ("resnet18", {"layers": [1, 1, 1, 1], "channels": (4, 4, 8, 8)}),
}


def randomise_batch_norms(model, generator):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            for tensor in (module.weight, module.bias, module.running_mean):
                tensor.data = torch.rand(tensor.shape, generator=generator) - 0.5
            module.running_var.data = torch.rand(module.running_var.shape, generator=generator) + 0.5


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"timm": timm.__version__, "torch": torch.__version__, "models": {}}
    for i, (key, (name, kwargs)) in enumerate(MODELS.items()):
        torch.manual_seed(i)
        model = timm.create_model(name, pretrained=False, features_only=True, out_indices=OUT_INDICES, **kwargs).eval()
        randomise_batch_norms(model, torch.Generator().manual_seed(i))
        x = np.random.RandomState(i).randn(1, 3, 33, 33).astype("float32")  # odd size: the strides' rounding
        with torch.no_grad():
            maps = model(torch.tensor(x))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, f"{key}.safetensors"))
        np.savez(os.path.join(OUT, f"{key}.npz"), pixel_values=x, **{f"map{j}": m.numpy() for j, m in enumerate(maps)})
        manifest["models"][key] = {
            "name": name, "timm_kwargs": {**kwargs, "channels": list(kwargs["channels"])},
            "out_indices": list(OUT_INDICES),
            "config": {"embedding_size": model.state_dict()["conv1.weight"].shape[0], "depths": kwargs["layers"],
                       "hidden_sizes": model.feature_info.channels()},
        }
        print(key, [tuple(m.shape) for m in maps], flush=True)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
