"""Builds tests/fixtures/multimodal/: four tiny random models (a ViT + GPT-2 VisionEncoderDecoder, BLIP, ViLT,
LayoutLM) with real tokenizers trained here, a few small PNG images, and what Hugging Face transformers 4's
image-to-text / visual-question-answering / document-question-answering pipelines return on them
(``pipeline_outputs.json``).

Run by hand, not by CI, in the transformers 4 venv of tests/make_fixtures.py (transformers 5 deleted the
image-to-text and visual-question-answering pipelines)::

    /tmp/fixvenv/bin/python tests/make_multimodal_fixtures.py

What it writes, under tests/fixtures/multimodal/:

- ``vit-gpt2-tiny/``: ``VisionEncoderDecoderModel`` (ViT hidden 16, 32 px images, patch 8; GPT-2 n_embd 16
  with cross-attention), a byte-level BPE tokenizer (GPT-2's ``<|endoftext|>`` as bos / eos / unk, no pad,
  as ydshieh/vit-gpt2-coco-en), a ``ViTImageProcessor`` and a ``generation_config.json`` with ``max_length``.
- ``blip-tiny/``: ``BlipForConditionalGeneration`` (vision hidden 16, text hidden 16), a WordPiece BERT
  tokenizer with BLIP's ``[DEC]`` bos and ``[ENC]`` tokens, a ``BlipImageProcessor`` (saved as a
  ``BlipProcessor``).
- ``vilt-tiny/``: ``ViltForQuestionAnswering`` (hidden 16, patch 8, six answers), a WordPiece tokenizer and a
  ``ViltImageProcessor`` (shortest edge 32, size_divisor 8: odd images give different patch grids).
- ``layoutlm-tiny/``: ``LayoutLMForQuestionAnswering`` (hidden 16, 64 positions) and a WordPiece
  ``LayoutLMTokenizerFast`` (model_max_length 64).
- ``images/``: small PNGs of odd sizes (one grayscale).
- ``pipeline_outputs.json``: one record per case: task, model folder, call inputs (images by file name, the
  document's word boxes), keyword arguments, and HF's output (or the error it raised: ``error``).

Weights are drawn with a large spread; the script checks that greedy tokens, VQA scores and QA spans are not
near ties (``MARGIN``), so float32 rounding on another backend cannot flip a token or an order.
"""

import json
import os
import re
import shutil
import sys

os.environ.setdefault("USE_TF", "0")  # PyTorch's pipelines only

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "multimodal")
MARGIN = 2e-3  # smallest gap allowed between a chosen logit / score and the next one

CAPTIONS = [
    "a cat sitting on a couch next to a remote control",
    "two birds are standing next to each other on a branch",
    "a man riding a wave on top of a surfboard",
    "a picture of a red bus driving down a city street",
    "a plate of food with broccoli and rice on a table",
    "a group of people standing around a kitchen",
    "a dog laying on a bed with a blanket",
    "a train traveling down tracks next to a forest",
    "what is the cat doing? how many birds are there? is this a man?",
    "what color is the bus? where is the dog? what is on the plate?",
]
ANSWERS = ["yes", "no", "two", "red", "cat", "sleeping"]
DOCUMENT_TEXT = [
    "invoice number us-001 date 11/02/2019 due date 26/02/2019",
    "bill to john smith 2 court square new york ny 12210",
    "description quantity unit price amount front and rear brake cables 1 100.00",
    "new set of pedal arms 2 15.00 30.00 labor 3hrs 3 5.00 15.00 subtotal 145.00",
    "sales tax 6.25% 9.06 total $154.06 payment is due within 15 days",
]
QA_QUESTIONS = ["what is the invoice number?", "what is the total?", "who is the bill to?",
                "what is the due date?"]
DOC_CORPUS = DOCUMENT_TEXT + QA_QUESTIONS

IMAGE_SIZES = {"photo.png": (37, 45, "RGB"), "wide.png": (29, 61, "RGB"), "gray.png": (41, 33, "L")}


# ---- tokenizers ------------------------------------------------------------------
def wordpiece_tokenizer(corpus, extra_special=()):
    """A lower-casing BERT WordPiece tokenizer over ``corpus``: the special tokens ([PAD] = 0), every character
    alone and as a ``##`` piece, and every word of the corpus (a fixed vocabulary: the same ids on every run)."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w for line in corpus for w in re.findall(r"\w+|[^\w\s]", line.lower())})
    chars = sorted({c for w in words for c in w})
    pieces = specials + chars + ["##" + c for c in chars] + [w for w in words if len(w) > 1] + list(extra_special)
    tokenizer = Tokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(specials + list(extra_special))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tokenizer


def gpt2_tokenizer():
    """Byte-level BPE over the captions' own characters (no unused byte tokens: every token decodes to text)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=160, special_tokens=["<|endoftext|>"], show_progress=False)
    tokenizer.train_from_iterator(CAPTIONS, trainer)
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return transformers.GPT2TokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>",
                                          eos_token="<|endoftext|>", unk_token="<|endoftext|>", model_max_length=64)


# ---- models ----------------------------------------------------------------------
def build_ved(folder, seed):
    tokenizer = gpt2_tokenizer()
    eos = tokenizer.eos_token_id
    encoder = transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                     image_size=32, patch_size=8, initializer_range=0.5)
    decoder = transformers.GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=2, n_head=2, n_positions=64,
                                      bos_token_id=eos, eos_token_id=eos, initializer_range=0.5)
    config = transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = eos
    config.pad_token_id = eos
    config.eos_token_id = eos
    torch.manual_seed(seed)
    model = transformers.VisionEncoderDecoderModel(config=config).eval()
    with torch.no_grad():  # an eos likely enough that some captions end early
        model.decoder.transformer.wte.weight[eos] *= 1.5
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=eos, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, max_length=16)
    processor = transformers.ViTImageProcessor(size={"height": 32, "width": 32})
    _save(model, [tokenizer, processor], folder)


def build_blip(folder, seed):
    text = wordpiece_tokenizer(CAPTIONS, extra_special=("[DEC]", "[ENC]"))
    tokenizer = transformers.BertTokenizerFast(
        tokenizer_object=text, bos_token="[DEC]", additional_special_tokens=["[ENC]"], model_max_length=64,
        do_lower_case=True, model_input_names=["input_ids", "attention_mask"])  # as Salesforce/blip-*
    dec, sep, pad = text.token_to_id("[DEC]"), text.token_to_id("[SEP]"), text.token_to_id("[PAD]")
    config = transformers.BlipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64, bos_token_id=dec, eos_token_id=sep,
                         sep_token_id=sep, pad_token_id=pad, initializer_range=0.5),
        vision_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                           image_size=32, patch_size=8, initializer_range=0.5),
        projection_dim=16, initializer_range=0.5,
    )
    torch.manual_seed(seed)
    model = transformers.BlipForConditionalGeneration(config).eval()
    with torch.no_grad():  # captions that sometimes end before max_length
        model.text_decoder.cls.predictions.bias[sep] += 1.0
    model.generation_config = transformers.GenerationConfig(bos_token_id=dec, eos_token_id=sep, pad_token_id=pad,
                                                            max_length=14)
    image_processor = transformers.BlipImageProcessor(size={"height": 32, "width": 32})
    processor = transformers.BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    _save(model, [processor], folder)


def build_vilt(folder, seed):
    text = wordpiece_tokenizer(CAPTIONS)
    tokenizer = transformers.BertTokenizerFast(tokenizer_object=text, model_max_length=40, do_lower_case=True)
    config = transformers.ViltConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        image_size=32, patch_size=8, max_position_embeddings=40, max_image_length=-1, initializer_range=0.5,
        id2label=dict(enumerate(ANSWERS)), label2id={a: i for i, a in enumerate(ANSWERS)},
    )
    torch.manual_seed(seed)
    model = transformers.ViltForQuestionAnswering(config).eval()
    image_processor = transformers.ViltImageProcessor(size={"shortest_edge": 32}, size_divisor=8)
    processor = transformers.ViltProcessor(image_processor=image_processor, tokenizer=tokenizer)
    _save(model, [processor], folder)


def build_layoutlm(folder, seed):
    text = wordpiece_tokenizer(DOC_CORPUS)
    tokenizer = transformers.LayoutLMTokenizerFast(tokenizer_object=text, model_max_length=64, do_lower_case=True)
    config = transformers.LayoutLMConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64, max_2d_position_embeddings=1024, initializer_range=0.5,
    )
    torch.manual_seed(seed)
    model = transformers.LayoutLMForQuestionAnswering(config).eval()
    _save(model, [tokenizer], folder)


def _save(model, parts, folder):
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    for part in parts:
        part.save_pretrained(folder)


# ---- inputs ----------------------------------------------------------------------
def write_images():
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (height, width, mode) in IMAGE_SIZES.items():
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (height + width)], -1)
        pixels = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype("uint8")
        image = Image.fromarray(pixels, "RGB").convert(mode)
        image.save(os.path.join(OUT, "images", name))


def document_word_boxes(lines):
    """(word, [x0, y0, x1, y1]) for each word of ``lines``, laid out left to right, one line per row (0..1000)."""
    word_boxes = []
    for row, line in enumerate(lines):
        x = 20
        for word in line.split():
            width = 12 * len(word) + 8
            word_boxes.append((word, [x, 40 + 60 * row, min(x + width, 990), 80 + 60 * row]))
            x = min(x + width + 10, 960)
    return word_boxes


WORD_BOXES = document_word_boxes(DOCUMENT_TEXT[:2])
LONG_WORD_BOXES = document_word_boxes(DOCUMENT_TEXT)

# (case name, model folder, task, call input, call kwargs). Images are file names under images/; "<...>" keys of
# an input are filled in by resolve(): "word_boxes": "<short>" / "<long>".
CASES = [
    ("ved_plain", "vit-gpt2-tiny", "image-to-text", "photo.png", {}),
    ("ved_max_new_tokens", "vit-gpt2-tiny", "image-to-text", "wide.png", {"max_new_tokens": 5}),
    ("ved_num_beams", "vit-gpt2-tiny", "image-to-text", "photo.png", {"generate_kwargs": {"num_beams": 3}}),
    ("ved_list", "vit-gpt2-tiny", "image-to-text", ["photo.png", "wide.png", "gray.png"], {}),
    ("ved_prompt", "vit-gpt2-tiny", "image-to-text", "photo.png", {"prompt": "a picture of"}),
    ("blip_plain", "blip-tiny", "image-to-text", "photo.png", {}),
    ("blip_prompt", "blip-tiny", "image-to-text", "wide.png", {"prompt": "a picture of"}),
    ("blip_list", "blip-tiny", "image-to-text", ["gray.png", "wide.png"], {"max_new_tokens": 6}),
    ("vqa_one", "vilt-tiny", "visual-question-answering", {"image": "photo.png", "question": "what is the cat doing?"},
     {}),
    ("vqa_top_k", "vilt-tiny", "visual-question-answering", {"image": "wide.png", "question": "how many birds?"},
     {"top_k": 2}),
    ("vqa_top_k_above_labels", "vilt-tiny", "visual-question-answering",
     {"image": "gray.png", "question": "is this a man?"}, {"top_k": 10}),
    ("vqa_questions", "vilt-tiny", "visual-question-answering",
     {"image": "photo.png", "question": ["what color is the bus?", "where is the dog?"]}, {"top_k": 3}),
    ("vqa_images", "vilt-tiny", "visual-question-answering",
     {"image": ["photo.png", "wide.png"], "question": "what is on the plate?"}, {"top_k": 1}),
    ("vqa_dicts", "vilt-tiny", "visual-question-answering",
     [{"image": "wide.png", "question": "is this a man?"}, {"image": "gray.png", "question": "what color is the bus?"}],
     {"top_k": 2}),
    ("docqa_one", "layoutlm-tiny", "document-question-answering",
     {"image": "photo.png", "question": QA_QUESTIONS[0], "word_boxes": "<short>"}, {}),
    ("docqa_top_k", "layoutlm-tiny", "document-question-answering",
     {"image": "photo.png", "question": QA_QUESTIONS[2], "word_boxes": "<short>"}, {"top_k": 3}),
    ("docqa_no_image", "layoutlm-tiny", "document-question-answering",
     {"image": None, "question": QA_QUESTIONS[3], "word_boxes": "<short>"}, {"top_k": 2}),
    ("docqa_long_windows", "layoutlm-tiny", "document-question-answering",
     {"image": "photo.png", "question": QA_QUESTIONS[1], "word_boxes": "<long>"},
     {"max_seq_len": 32, "doc_stride": 8, "top_k": 3}),
    ("docqa_long_impossible", "layoutlm-tiny", "document-question-answering",
     {"image": "photo.png", "question": QA_QUESTIONS[0], "word_boxes": "<long>"},
     {"max_seq_len": 40, "doc_stride": 12, "handle_impossible_answer": True, "top_k": 2, "max_answer_len": 4}),
    ("docqa_impossible_ranked", "layoutlm-tiny", "document-question-answering",
     {"image": None, "question": QA_QUESTIONS[1], "word_boxes": "<short>"},
     {"handle_impossible_answer": True, "top_k": 14, "max_answer_len": 1}),
    ("docqa_dicts", "layoutlm-tiny", "document-question-answering",
     [{"image": "photo.png", "question": QA_QUESTIONS[0], "word_boxes": "<short>"},
      {"image": "wide.png", "question": QA_QUESTIONS[3], "word_boxes": "<long>"}],
     {"max_seq_len": 48, "doc_stride": 16}),
]


def resolve(value):
    """A case's input with image names made paths and word-box placeholders filled in."""
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if value == "<short>":
        return [(w, list(b)) for w, b in WORD_BOXES]
    if value == "<long>":
        return [(w, list(b)) for w, b in LONG_WORD_BOXES]
    if isinstance(value, str) and value in IMAGE_SIZES:
        return os.path.join(OUT, "images", value)
    return value


def call(pipe, task, inputs, kwargs):
    if task == "image-to-text" or isinstance(inputs, list):
        return pipe(inputs, **kwargs)
    return pipe(**inputs, **kwargs)


# ---- margin checks ---------------------------------------------------------------
VQA_QUESTIONS = ("what is the cat doing?", "how many birds?", "is this a man?", "what color is the bus?",
                 "where is the dog?", "what is on the plate?")


def greedy_margin(pipe, image, prompt=None):
    """The smallest gap between the best and second-best logit over the greedy steps of one caption."""
    features = pipe.preprocess(image, prompt=prompt)
    pixel_values = features.pop("pixel_values")
    out = pipe.model.generate(pixel_values, **features, generation_config=pipe.generation_config, output_scores=True,
                              return_dict_in_generate=True)
    return min(float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in out.scores)


def sorted_gap(values, relative=False):
    """The smallest gap between neighbours of ``values`` sorted (relative: over the larger of the two)."""
    values = np.sort(np.asarray(values, dtype="float64"))[::-1]
    if len(values) < 2:
        return 1.0
    gaps = values[:-1] - values[1:]
    return float(np.min(gaps / values[:-1] if relative else gaps))


def margins(folder, pipe, records):
    """(what, gap) for every choice the recorded outputs of ``folder`` rest on."""
    images = [resolve(name) for name in IMAGE_SIZES]
    if folder == "vit-gpt2-tiny":
        return [("greedy " + path, greedy_margin(pipe, path)) for path in images]
    if folder == "blip-tiny":
        return [(f"greedy {path} {prompt}", greedy_margin(pipe, path, prompt)) for path in images
                for prompt in (None, "a picture of")]
    if folder == "vilt-tiny":
        gaps = []
        for path in images:
            for question in VQA_QUESTIONS:
                inputs = pipe.preprocess({"image": path, "question": question})
                scores = torch.sigmoid(pipe.model(**inputs).logits[0]).tolist()
                gaps.append((f"{path} {question}", sorted_gap(scores)))
        return gaps
    gaps = []  # document QA: span scores are products of two softmaxes over many tokens (small numbers)
    for record in records:
        outputs = record.get("output") or []
        for answers in (outputs if outputs and isinstance(outputs[0], list) else [outputs]):
            gaps.append((record["name"], sorted_gap([a["score"] for a in answers], relative=True)))
    return gaps


def docqa_windows(pipe, inputs, kwargs):
    """What 4.57's preprocess feeds LayoutLM for each document: per window, input_ids, token_type_ids and bbox."""
    params = pipe._sanitize_parameters(**kwargs)[0]
    windows = []
    for example in inputs if isinstance(inputs, list) else [inputs]:
        example = {k: v for k, v in example.items() if k != "word_boxes" or v is not None}
        windows.append([{key: feature[key][0].tolist() for key in ("input_ids", "token_type_ids", "bbox")}
                        for feature in pipe.preprocess(example, **params)])
    return windows


# ---- run -------------------------------------------------------------------------
BUILDERS = {"vit-gpt2-tiny": build_ved, "blip-tiny": build_blip, "vilt-tiny": build_vilt,
            "layoutlm-tiny": build_layoutlm}


def run_cases(folder, task):
    pipe = transformers.pipeline(task, model=os.path.join(OUT, folder), framework="pt")
    records = []
    for name, case_folder, _, inputs, kwargs in CASES:
        if case_folder != folder:
            continue
        record = {"name": name, "model": folder, "task": task, "inputs": inputs, "call_kwargs": kwargs}
        if task == "document-question-answering":
            record["windows"] = docqa_windows(pipe, resolve(inputs), kwargs)
        try:
            record["output"] = call(pipe, task, resolve(inputs), kwargs)
        except Exception as error:  # recorded: the error 4.57 gives for this input
            record["error"] = {"type": type(error).__name__, "message": str(error)}
        records.append(record)
    return pipe, records


def build_and_run(folder):
    """Builds ``folder``'s model with the first seed whose recorded choices have no near tie; its records."""
    task = next(case[2] for case in CASES if case[1] == folder)
    for seed in range(20):
        BUILDERS[folder](os.path.join(OUT, folder), seed)
        pipe, records = run_cases(folder, task)
        what, gap = min(margins(folder, pipe, records), key=lambda item: item[1])
        print(f"{folder} seed {seed}: smallest margin {gap:.3g} ({what})", file=sys.stderr)
        if gap > MARGIN:
            return records
    raise SystemExit(f"{folder}: no seed without a near tie")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_images()
    records = {}
    for folder in BUILDERS:
        for record in build_and_run(folder):
            records[record["name"]] = record
            print(record["name"], json.dumps(record.get("output", record.get("error")))[:200], file=sys.stderr)
    records = [records[case[0]] for case in CASES]
    with open(os.path.join(OUT, "pipeline_outputs.json"), "w") as f:
        json.dump({"transformers_version": transformers.__version__, "word_boxes": {
            "short": WORD_BOXES, "long": LONG_WORD_BOXES}, "cases": records}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
