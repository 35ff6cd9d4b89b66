"""Builds tests/fixtures/detr_timm/: a tiny DETR with a timm ResNet backbone, as the default DETR
checkpoints are (``use_timm_backbone=True``), written by transformers 4 with timm.

Run by hand, not by CI, in the fixture environment of tests/make_fixtures.py (transformers<5
and timm: transformers 5 no longer builds timm backbones this way)::

    /tmp/fixvenv/bin/python tests/make_detr_timm_fixture.py

Writes ``config.json`` and ``model.safetensors`` (transformers 4's names:
``model.backbone.conv_encoder.model.conv1.weight``, ``layer1.0.bn1.running_mean``...) and
``reference.npz``: the inputs (a batch with a padded image) and the model's outputs.
"""

import os

import numpy as np
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "detr_timm")


def main():
    torch.manual_seed(0)
    config = transformers.DetrConfig(
        use_timm_backbone=True, backbone="resnet18", use_pretrained_backbone=False,
        backbone_kwargs={"out_indices": [1, 2, 3, 4], "in_chans": 3, "channels": [4, 8, 8, 16]},
        d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=16, decoder_ffn_dim=16,
        encoder_attention_heads=2, decoder_attention_heads=2, num_queries=4, num_labels=3)
    model = transformers.DetrForObjectDetection(config).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # batch-norm statistics away from the identity
        for module in model.modules():
            if getattr(module, "running_mean", None) is not None:
                n = module.running_mean.shape[0]
                module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.rand(n, generator=gen) - 0.5)
    model.save_pretrained(OUT)
    rng = np.random.RandomState(0)
    pixel_values = rng.randn(2, 3, 64, 72).astype("float32")
    pixel_mask = np.ones((2, 64, 72), "int64")
    pixel_mask[1, 48:, :] = 0
    pixel_mask[1, :, 40:] = 0
    with torch.no_grad():
        out = model(pixel_values=torch.tensor(pixel_values), pixel_mask=torch.tensor(pixel_mask))
    np.savez_compressed(os.path.join(OUT, "reference.npz"), pixel_values=pixel_values, pixel_mask=pixel_mask,
                        logits=out.logits.numpy(), pred_boxes=out.pred_boxes.numpy(),
                        last_hidden_state=out.last_hidden_state.numpy(),
                        encoder_last_hidden_state=out.encoder_last_hidden_state.numpy())
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
