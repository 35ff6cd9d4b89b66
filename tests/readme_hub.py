"""Tiny stand-ins, under the hub ids README.md names, in a huggingface_hub cache folder: README snippets
then run offline exactly as a user types them (the outputs mean nothing; that they run is the test).

``build_readme_cache(cache_dir)`` writes them: random tiny models made here with transformers, the
tokenizers of the real all-MiniLM-L6-v2 (BERT's uncased vocabulary) or of the tiny fixtures in
tests/fixtures/, the real all-MiniLM-L6-v2 itself, each in the cache layout of tests/hub_cache.py.
Default models of the pipeline tasks sit at their pinned revisions.
"""

import json
import os
import shutil
import tempfile

import torch
import transformers

from keras_tfm.pipelines import SUPPORTED_TASKS
from tests.conftest import minilm_dir
from tests.hub_cache import put_in_hub_cache
from tests.tokenizer_folders import train_byte_level_bpe_plain

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
BERT_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def _labels(names):
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def _bert_tokenizer(folder):
    for name in BERT_TOKENIZER:
        shutil.copy(os.path.join(minilm_dir(), name), folder)


def _distilbert(cls, folder, **config):
    torch.manual_seed(0)
    hf_config = transformers.DistilBertConfig(vocab_size=30522, dim=48, n_layers=2, n_heads=4, hidden_dim=64,
                                              **config)
    getattr(transformers, cls)(hf_config).eval().save_pretrained(folder)
    _bert_tokenizer(folder)
    path = os.path.join(folder, "tokenizer_config.json")  # as DistilBERT's own: no token_type_ids
    with open(path) as f:
        config = json.load(f)
    with open(path, "w") as f:
        json.dump({**config, "model_input_names": ["input_ids", "attention_mask"]}, f)


def _bert(cls, folder, **config):
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=37, **config)
    getattr(transformers, cls)(hf_config).eval().save_pretrained(folder)
    _bert_tokenizer(folder)


def _gpt2(folder):
    with tempfile.TemporaryDirectory() as scratch:
        train_byte_level_bpe_plain(300).save_model(scratch)
        tokenizer = transformers.GPT2Tokenizer.from_pretrained(scratch)
    tokenizer.add_special_tokens({"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>",
                                  "unk_token": "<|endoftext|>"})
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = transformers.GPT2LMHeadModel(config).eval()
    # short generations (the pipeline's default is 256 new tokens), within the 128 positions
    model.generation_config = transformers.GenerationConfig(bos_token_id=config.bos_token_id,
                                                            eos_token_id=config.eos_token_id, max_new_tokens=16)
    model.save_pretrained(folder)


def _copy(source):
    def build(folder):
        for name in os.listdir(source):
            if os.path.isfile(os.path.join(source, name)):
                shutil.copy(os.path.join(source, name), folder)
    return build


def _bart_long(folder):
    # the tiny BART fixture's config and tokenizer, with distilbart-cnn-12-6's 1024 positions
    source = os.path.join(FIXTURES, "seq2seq", "bart-tiny")
    _copy(source)(folder)
    config = transformers.BartConfig.from_pretrained(source, max_position_embeddings=1024)
    torch.manual_seed(0)
    transformers.BartForConditionalGeneration(config).eval().save_pretrained(folder)


def _blip(folder):
    # the tiny BLIP fixture, whose generation config leaves room for a prompt
    _copy(os.path.join(FIXTURES, "multimodal", "blip-tiny"))(folder)
    path = os.path.join(folder, "generation_config.json")
    with open(path) as f:
        config = json.load(f)
    with open(path, "w") as f:
        json.dump({**config, "max_length": 40}, f)


def _vit(cls, folder, **config):
    torch.manual_seed(0)
    hf_config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=32, **config)
    getattr(transformers, cls)(hf_config).eval().save_pretrained(folder)
    transformers.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)


def _detr(cls, folder, **config):
    torch.manual_seed(0)
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                                         layer_type="basic", out_features=["stage1", "stage2", "stage3", "stage4"])
    hf_config = transformers.DetrConfig(backbone_config=backbone, use_timm_backbone=False, d_model=32,
                                        encoder_layers=1, decoder_layers=1, encoder_attention_heads=8,
                                        decoder_attention_heads=8, encoder_ffn_dim=32, decoder_ffn_dim=32,
                                        num_queries=10, **config)
    getattr(transformers, cls)(hf_config).eval().save_pretrained(folder)
    transformers.DetrImageProcessorPil(size={"height": 48, "width": 64}).save_pretrained(folder)


def _audio_tests(helper):
    # the tiny Wav2Vec2 CTC / classifier and Whisper of the audio pipeline tests, with their processors
    def build(folder):
        from pathlib import Path

        from tests import test_audio_pipelines

        made = Path(folder) / "made"
        getattr(test_audio_pipelines, helper)(made)
        for name in os.listdir(made):
            shutil.move(str(made / name), folder)
        os.rmdir(made)
    return build


NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SST2 = ["NEGATIVE", "POSITIVE"]

# hub id -> folder builder
BUILDERS = {
    "distilbert/distilbert-base-uncased-finetuned-sst-2-english":
        lambda f: _distilbert("DistilBertForSequenceClassification", f, **_labels(SST2)),
    "distilbert/distilbert-base-uncased": lambda f: _distilbert("DistilBertForMaskedLM", f),
    "dslim/bert-base-NER": lambda f: _bert("BertForTokenClassification", f, **_labels(NER)),
    "deepset/bert-base-cased-squad2": lambda f: _bert("BertForQuestionAnswering", f),
    "sentence-transformers/all-MiniLM-L6-v2": lambda f: _copy(minilm_dir())(f),
    "openai-community/gpt2": _gpt2,
    "gpt2": _gpt2,
    "sshleifer/distilbart-cnn-12-6": _bart_long,
    "google-t5/t5-small": _copy(os.path.join(FIXTURES, "seq2seq", "t5-tiny")),
    "google/flan-t5-small": _copy(os.path.join(FIXTURES, "seq2seq", "t5-tiny")),
    "google/vit-base-patch16-224": lambda f: _vit("ViTForImageClassification", f, **_labels(
        ["tabby, tabby cat", "tiger cat", "Egyptian cat", "lynx", "remote control"])),
    "google/vit-base-patch16-224-in21k": lambda f: _vit("ViTModel", f),
    "facebook/detr-resnet-50": lambda f: _detr("DetrForObjectDetection", f, **_labels(["N/A", "person", "car"])),
    "facebook/detr-resnet-50-panoptic": lambda f: _detr("DetrForSegmentation", f, **_labels(["N/A", "road", "car"])),
    "facebook/wav2vec2-base-960h": _audio_tests("_save_ctc"),
    "superb/wav2vec2-base-superb-ks": _audio_tests("_save_classifier"),
    "openai/whisper-tiny": _audio_tests("_save_whisper"),
    "ydshieh/vit-gpt2-coco-en": _copy(os.path.join(FIXTURES, "multimodal", "vit-gpt2-tiny")),
    "Salesforce/blip-image-captioning-base": _blip,
    "dandelin/vilt-b32-finetuned-vqa": _copy(os.path.join(FIXTURES, "multimodal", "vilt-tiny")),
    "impira/layoutlm-document-qa": _copy(os.path.join(FIXTURES, "multimodal", "layoutlm-tiny")),
}


def _pinned_commits():
    """hub id -> a 40-hex commit starting with the pinned revision of the task whose default it is."""
    pinned = {}
    for entry in SUPPORTED_TASKS.values():
        model = entry["default"].get("model")
        if model and model[1]:
            pinned[model[0]] = (model[1] + "0" * 40)[:40]
    return pinned


def build_readme_cache(cache_dir):
    """Writes every stand-in of BUILDERS into the hub cache folder ``cache_dir``."""
    pinned = _pinned_commits()
    with tempfile.TemporaryDirectory() as scratch:
        for i, (repo_id, build) in enumerate(BUILDERS.items()):
            folder = os.path.join(scratch, str(i))
            os.makedirs(folder)
            build(folder)
            commit = pinned.get(repo_id, "0123456789abcdef0123456789abcdef01234567")
            put_in_hub_cache(cache_dir, repo_id, folder, commit=commit)
    return cache_dir
