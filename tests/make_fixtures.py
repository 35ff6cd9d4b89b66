"""Builds the committed checkpoint fixtures of tests/fixtures/convert/ with the real writers,
and checks that HF transformers 4 reads the TF / Flax files keras_tfm writes (--check-written).

Run by hand, not by CI, in its own virtual environment (Hugging Face ``transformers<5``
is the last one that can write TensorFlow and Flax checkpoints)::

    python3 -m venv /tmp/fixvenv
    /tmp/fixvenv/bin/pip install torch==2.13.0          # first: the CPU build
    /tmp/fixvenv/bin/pip install -r tests/make_fixtures-requirements.txt
    /tmp/fixvenv/bin/python tests/make_fixtures.py

For each architecture and head it builds a tiny random PyTorch model from a config and
writes, in one folder: ``config.json``, ``model.safetensors``, ``pytorch_model.bin``,
``tf_model.h5`` (TFAutoModel...from_pretrained(from_pt=True).save_pretrained) and
``flax_model.msgpack`` (FlaxAutoModel..., the same way), plus ``reference.npz``: the fixed
inputs and the logits of the PyTorch model (the TF and Flax models are checked against
them here, so a fixture is only written when HF's own three frameworks agree). A
``*-sharded`` folder per architecture holds every format sharded, with its index.
"""

import importlib
import json
import os
import shutil
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers 4 TF models need tf-keras (Keras 2)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch._dynamo  # noqa: E402,F401  (before TensorFlow: importing triton after TF's libraries segfaults)
import transformers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "convert")
ATOL = 1e-4

# Tiny configs: the whole fixture tree stays well under a megabyte or two.
CONFIGS = {
    "bert": lambda: transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
        max_position_embeddings=32, pad_token_id=1),
    "distilbert": lambda: transformers.DistilBertConfig(
        vocab_size=64, dim=16, n_layers=2, n_heads=2, hidden_dim=24, max_position_embeddings=32, pad_token_id=1),
    "roberta": lambda: transformers.RobertaConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
        max_position_embeddings=34, pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5),
    # LayoutLM (v1): BERT plus box-coordinate tables (a small max_2d_position_embeddings); HF 4 wrote TF, no Flax.
    "layoutlm": lambda: transformers.LayoutLMConfig(
        vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=12,
        max_position_embeddings=16, max_2d_position_embeddings=32, pad_token_id=1),
    "gpt2": lambda: transformers.GPT2Config(
        vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=32, pad_token_id=1),
    # Llama-family decoders: HF 4 wrote Flax for Llama and TF for Mistral (no TF Llama, no TF / Flax Qwen2).
    "llama": lambda: transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=32, pad_token_id=1, tie_word_embeddings=False),
    "mistral": lambda: transformers.MistralConfig(
        vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=32, pad_token_id=1, sliding_window=None),
    # T5 v1.0 (ReLU, head tied and scaled; a deeper decoder) and v1.1 / Flan-T5 (gated-GELU, untied head,
    # heads * d_kv != d_model).
    "t5": lambda: transformers.T5Config(
        vocab_size=64, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_decoder_layers=3, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, decoder_start_token_id=0),
    "t5-v1_1": lambda: transformers.T5Config(
        vocab_size=64, d_model=16, d_kv=6, d_ff=24, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
        relative_attention_max_distance=16, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        decoder_start_token_id=0),
    # Encoder-decoders: BART (post-norm) and MBart (pre-norm, final norms); HF 4 wrote TF and Flax for both.
    "bart": lambda: transformers.BartConfig(
        vocab_size=64, d_model=8, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=12, decoder_ffn_dim=12, max_position_embeddings=16),
    "mbart": lambda: transformers.MBartConfig(
        vocab_size=64, d_model=8, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=12, decoder_ffn_dim=12, max_position_embeddings=16,
        scale_embedding=True),
    # Speech: Whisper (conv stem over 16 mel frames, sinusoidal encoder positions, k_proj without bias).
    "whisper": lambda: transformers.WhisperConfig(
        vocab_size=64, num_mel_bins=4, d_model=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=12, decoder_ffn_dim=12, max_source_positions=8,
        max_target_positions=16, pad_token_id=1, bos_token_id=1, eos_token_id=1, decoder_start_token_id=2,
        begin_suppress_tokens=None),
    # Vision: ResNet with bottleneck layers (a projection shortcut in each stage), images of 32 px.
    "resnet": lambda: transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="bottleneck"),
    # Vision: a ViT on 8 x 8 images of 4 x 4 patches.
    "vit": lambda: transformers.ViTConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=12, image_size=8, patch_size=4,
        encoder_stride=4),
    # Vision: SegFormer (HF 4 wrote TF, no Flax); two stages, one with sequence reduction.
    "segformer": lambda: transformers.SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[4, 8], patch_sizes=[7, 3], strides=[4, 2],
        num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=4,
        initializer_range=0.3),  # large enough for logits that vary: HF 4 draws every weight from N(0, 0.02)
    # Audio: Wav2Vec2 with the stable-layer-norm encoder (the only one HF 4's Flax Wav2Vec2 has), LayerNorm convs.
    "wav2vec2": lambda: transformers.Wav2Vec2Config(
        vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=12, conv_dim=(8, 8),
        conv_kernel=(10, 3), conv_stride=(5, 2), conv_bias=True, num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True),
    # Image-to-text: BLIP's captioner (a ViT with fused qkv; a BERT-style decoder with cross-attention); HF 4 wrote
    # TF, no Flax. num_channels: HF 4's TF BLIP reads it to build (its BlipVisionConfig has no such field).
    "blip": lambda: transformers.BlipConfig(
        text_config=dict(vocab_size=64, hidden_size=8, intermediate_size=12, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=63, pad_token_id=0,
                         sep_token_id=3, eos_token_id=2),
        vision_config=dict(hidden_size=8, intermediate_size=12, num_hidden_layers=1, num_attention_heads=2,
                           image_size=8, patch_size=4, initializer_range=0.02,
                           num_channels=3)),
    # Image-to-text: HF 4's VisionEncoderDecoder of the ViT above (8 wide) and a one-layer GPT-2 with
    # cross-attention (16 wide: the encoder-to-decoder projection is there too).
    "vision-encoder-decoder": lambda: transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        transformers.ViTConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=12,
                               image_size=8, patch_size=4, encoder_stride=4),
        transformers.GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=32, pad_token_id=1),
        decoder_start_token_id=0, pad_token_id=1),
}
PREFIX = {"bert": "Bert", "distilbert": "DistilBert", "roberta": "Roberta", "layoutlm": "LayoutLM", "gpt2": "GPT2", "llama": "Llama",
          "mistral": "Mistral", "t5": "T5", "t5-v1_1": "T5", "bart": "Bart", "mbart": "MBart",
          "whisper": "Whisper", "resnet": "ResNet", "vit": "ViT", "segformer": "Segformer",
          "wav2vec2": "Wav2Vec2", "blip": "Blip", "vision-encoder-decoder": "VisionEncoderDecoder"}
HEADS = {"bert": ["ForSequenceClassification", "ForMaskedLM", "Model"], "distilbert": ["ForSequenceClassification", "ForMaskedLM"],
         "roberta": ["ForSequenceClassification", "ForMaskedLM"], "layoutlm": ["ForMaskedLM", "ForTokenClassification"],
         "gpt2": ["LMHeadModel"], "llama": ["ForCausalLM"],
         "mistral": ["ForCausalLM"], "t5": ["ForConditionalGeneration", "Model", "EncoderModel"],
         "t5-v1_1": ["ForConditionalGeneration"], "bart": ["ForConditionalGeneration", "ForSequenceClassification", "Model"],
         "mbart": ["ForConditionalGeneration"], "whisper": ["ForConditionalGeneration"],
         "resnet": ["ForImageClassification", "Model"],
         "vit": ["ForImageClassification", "Model"], "segformer": ["ForSemanticSegmentation", "Model"],
         "wav2vec2": ["ForCTC"], "blip": ["ForConditionalGeneration"],
         "vision-encoder-decoder": ["Model"]}
# T5: its sharded files would add 0.6 MB
UNSHARDED_ONLY = ("layoutlm", "gpt2", "llama", "mistral", "t5", "t5-v1_1", "bart", "mbart", "whisper", "resnet", "vit", "segformer",
                  "wav2vec2", "blip", "vision-encoder-decoder")
SEQ2SEQ = ("bart", "mbart")
# What HF transformers 4 could not give as a reference: it had no TF Llama (nor Flax SegFormer, LayoutLM or BLIP), and
# its Flax Mistral's logits were 0.15 away from its PyTorch Mistral's on these inputs.
HF_DID_NOT_WRITE = {"llama": {"TF"}, "mistral": {"Flax"}, "segformer": {"Flax"}, "layoutlm": {"Flax"}, "blip": {"Flax"}}
VISION = ("resnet", "vit", "segformer")  # inputs: pixel_values (B, C, H, W) float32
AUDIO = ("wav2vec2",)  # inputs: input_values (B, samples) float32 and a sample mask
SHARD = "4KB"  # small enough to split every format into several files


def make_inputs(arch, head="", batch=2, length=7, seed=0):
    rng = np.random.RandomState(seed)
    if arch == "whisper":  # log-mel features (B, mel bins, 2 * max_source_positions) and decoder ids from its start 2
        config = CONFIGS[arch]()
        decoder_ids = rng.randint(3, 64, (batch, 5)).astype("int64")
        decoder_ids[:, 0] = 2
        return {"input_features": rng.randn(batch, config.num_mel_bins, 2 * config.max_source_positions)
                .astype("float32"), "decoder_input_ids": decoder_ids}
    if arch == "blip":  # 8 x 8 images and a caption from the tokenizer's [CLS] (the forward takes it as it is)
        ids = rng.randint(5, 60, (batch, length)).astype("int64")
        ids[:, 0] = 1
        return {"pixel_values": rng.randn(batch, 3, 8, 8).astype("float32"), "input_ids": ids}
    if arch == "vision-encoder-decoder":  # 8 x 8 images and decoder ids from its start 0
        decoder_ids = rng.randint(3, 64, (batch, 5)).astype("int64")
        decoder_ids[:, 0] = 0
        return {"pixel_values": rng.randn(batch, 3, 8, 8).astype("float32"), "decoder_input_ids": decoder_ids}
    if arch in AUDIO:  # 400 samples (36 frames), the second row right-padded after 300 (26 frames)
        values, mask = rng.randn(batch, 400).astype("float32"), np.ones((batch, 400), "int64")
        mask[1, 300:] = 0
        values[mask == 0] = 0.0
        return {"input_values": values, "attention_mask": mask}
    if arch in VISION:
        if arch == "segformer":
            return {"pixel_values": rng.randn(batch, 3, 22, 18).astype("float32")}  # strides 4, 2: 6 x 5, 3 x 3
        config = CONFIGS[arch]()
        size = getattr(config, "image_size", 32)
        return {"pixel_values": rng.randn(batch, config.num_channels, size, size).astype("float32")}
    ids = rng.randint(5, 64, (batch, length)).astype("int64")
    mask = np.ones((batch, length), "int64")
    mask[1, 5:] = 0
    ids[mask == 0] = 1
    inputs = {"input_ids": ids, "attention_mask": mask}
    if arch == "layoutlm":  # word boxes (left, upper, right, lower) inside its 32 x 32 coordinate tables
        corner, size = rng.randint(0, 24, (batch, length, 2)), rng.randint(0, 8, (batch, length, 2))
        inputs["bbox"] = np.concatenate([corner, corner + size], axis=-1).astype("int64")
    if arch in ("bert", "layoutlm"):
        tt = np.zeros_like(ids)
        tt[:, 3:] = 1
        inputs["token_type_ids"] = tt
    if arch in SEQ2SEQ:
        ids[0, -1] = ids[1, 4] = 2  # one </s> closing each row (BART's classification pools there)
    if arch.startswith("t5") and head != "EncoderModel":  # the decoder's inputs, from its start token 0
        decoder_ids = rng.randint(5, 64, (batch, 5)).astype("int64")
        decoder_ids[:, 0] = 0
        inputs["decoder_input_ids"] = decoder_ids
    if arch in SEQ2SEQ and head != "ForSequenceClassification":  # which reads input_ids shifted right
        decoder_ids = rng.randint(5, 64, (batch, 5)).astype("int64")
        decoder_ids[:, 0] = 2  # decoder_start_token_id
        inputs["decoder_input_ids"] = decoder_ids
    return inputs


def framework_inputs(inputs):
    """Token ids as the int32 HF's TF and Flax models take; images stay float32."""
    return {k: v if v.dtype.kind == "f" else v.astype("int32") for k, v in inputs.items()}


def _randomise_batch_norms(model):
    """Batch norms get random statistics and affine parameters, so the fixtures test their conversion
    (fresh ones hold zeros and ones)."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            for tensor in (module.weight, module.bias, module.running_mean):
                tensor.data = torch.rand(tensor.shape, generator=generator) - 0.5
            module.running_var.data = torch.rand(module.running_var.shape, generator=generator) + 0.5


def _main_output(out):
    """Logits of a task model; the last hidden state of a base model (stored as "logits" too)."""
    return out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state


def build(arch, head, folder, sharded=False):
    name = PREFIX[arch] + head
    torch.manual_seed(0)
    config = CONFIGS[arch]()
    config.num_labels = 3
    if arch == "gpt2":
        config.tie_word_embeddings = True
    pt = getattr(transformers, name)(config).eval()
    _randomise_batch_norms(pt)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    shard = {"max_shard_size": SHARD} if sharded else {}
    # PyTorch: safetensors and pickle (.bin), both written by HF.
    pt.save_pretrained(folder, safe_serialization=True, **shard)
    _move_written(pt, folder, "pytorch_model", safe_serialization=False, **shard)

    inputs = make_inputs(arch, head)
    with torch.no_grad():
        expected = _main_output(pt(**{k: torch.tensor(v) for k, v in inputs.items()})).numpy()

    # TensorFlow and Flax: HF's own PT -> TF / Flax conversion (from_pt=True), written by their save_pretrained.
    diffs = {}
    for framework in ("TF", "Flax"):
        if framework in HF_DID_NOT_WRITE.get(arch, ()):
            diffs[framework] = None
            continue
        model = getattr(transformers, framework + name).from_pretrained(folder, from_pt=True)
        logits = np.asarray(_main_output(model(**framework_inputs(inputs))))
        diffs[framework] = float(np.abs(logits - expected).max())
        assert diffs[framework] <= ATOL, (name, framework, diffs[framework])
        _move_written(model, folder, framework.lower() + "_model", **shard)

    np.savez(os.path.join(folder, "reference.npz"), logits=expected, **inputs)
    return {"class": name, "files": sorted(os.listdir(folder)), "tf_vs_pt": diffs["TF"], "flax_vs_pt": diffs["Flax"]}


def _jax_clip_accepts_a_max():
    """HF 4's Flax T5 calls ``jnp.clip(x, a_max=...)``, keywords the jax of this venv no longer takes."""
    import jax.numpy as jnp

    clip = jnp.clip

    def compat(arr, min=None, max=None, *, a_min=None, a_max=None):
        return clip(arr, a_min if min is None else min, a_max if max is None else max)

    jnp.clip = compat


def _move_written(model, folder, prefix, **save_kwargs):
    """``model.save_pretrained`` into a side folder, then its ``prefix*`` weight files into ``folder``."""
    tmp = f"{folder}.{prefix}"
    model.save_pretrained(tmp, **save_kwargs)
    for f in os.listdir(tmp):
        if f.startswith(prefix):
            shutil.move(os.path.join(tmp, f), os.path.join(folder, f))
    shutil.rmtree(tmp)


def check_written(root):
    """HF transformers 4 loads the TF / Flax folders keras_tfm wrote and gives the reference outputs.

    ``root`` holds folders named ``<fixture>-<tf|flax>-<anything>``, written by keras_tfm from
    the fixtures (in the main venv)::

        for d in tests/fixtures/convert/*/; do n=$(basename $d)
          keras-tfm convert $d /tmp/written/$n-tf-1 --to tf; keras-tfm convert $d /tmp/written/$n-tf-2 --to tf --max-shard-size 3KB
          keras-tfm convert $d /tmp/written/$n-flax-1 --to flax; done
        /tmp/fixvenv/bin/python tests/make_fixtures.py --check-written /tmp/written
    """
    transformers.logging.set_verbosity_error()
    failures = 0
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        fixture, kind, _ = name.rsplit("-", 2)
        ref = np.load(os.path.join(OUT, fixture, "reference.npz"))
        inputs = framework_inputs({k: ref[k] for k in ref.files if k != "logits"})
        with open(os.path.join(folder, "config.json")) as f:
            arch = json.load(f)["architectures"][0]
        if kind == "tf":
            model, info = getattr(transformers, "TF" + arch).from_pretrained(folder, output_loading_info=True)
            out = _main_output(model(**inputs)).numpy()
            info = {k: v for k, v in info.items() if v and not all(str(x).startswith("dropout") for x in v)}
        else:
            model, info = getattr(transformers, "Flax" + arch).from_pretrained(folder), {}
            out = np.asarray(_main_output(model(**inputs)))
        diff = float(np.abs(out - ref["logits"]).max())
        ok = diff <= ATOL and not info
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs diff {diff:.2e} {info or ''}", flush=True)
    return 1 if failures else 0


def main():
    _jax_clip_accepts_a_max()
    if sys.argv[1:2] == ["--check-written"]:
        return check_written(sys.argv[2])
    os.makedirs(OUT, exist_ok=True)
    manifest = {"transformers": transformers.__version__, "torch": torch.__version__, "fixtures": {}}
    # torch's compiler stack (triton, pulled in by transformers' masking utils) segfaults when its libraries load
    # after TensorFlow's: import it first.
    importlib.import_module("transformers.masking_utils")
    import flax
    import tensorflow as tf

    manifest["tensorflow"], manifest["flax"] = tf.__version__, flax.__version__
    only = sys.argv[1:]  # architectures to (re)build; all by default
    for arch in CONFIGS:
        if only and arch not in only:
            continue
        for head in HEADS[arch]:
            key = f"{arch}-{head}"
            manifest["fixtures"][key] = build(arch, head, os.path.join(OUT, key))
            print(key, manifest["fixtures"][key]["tf_vs_pt"], manifest["fixtures"][key]["flax_vs_pt"], flush=True)
        if arch not in UNSHARDED_ONLY:
            key = f"{arch}-{HEADS[arch][0]}-sharded"
            manifest["fixtures"][key] = build(arch, HEADS[arch][0], os.path.join(OUT, key), sharded=True)
            print(key, flush=True)
    path = os.path.join(OUT, "manifest.json")
    if only and os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        manifest["fixtures"] = {**old["fixtures"], **manifest["fixtures"]}
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
