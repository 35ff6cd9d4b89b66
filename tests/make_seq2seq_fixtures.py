"""Builds tests/fixtures/seq2seq/: a tiny BART and a tiny T5 (random weights, real tokenizers trained
here) and the outputs of Hugging Face transformers 4's summarization / translation /
text2text-generation pipelines on them (``pipeline_outputs.json``).

Run by hand, not by CI, in the transformers 4 venv of tests/make_fixtures.py (its docstring
says how it is built; transformers 5 deleted these pipelines)::

    /tmp/fixvenv/bin/python tests/make_seq2seq_fixtures.py

What it writes, under tests/fixtures/seq2seq/:

- ``bart-tiny/``: ``BartForConditionalGeneration`` (d_model 16, 2 + 2 layers,
  ``max_position_embeddings`` 128), a byte-level BPE tokenizer (``tokenizer.json``,
  ``vocab.json``, ``merges.txt``), ``generation_config.json`` and, in its config,
  ``task_specific_params["summarization"]`` as distilbart-cnn has them (min_length,
  max_length, num_beams, no_repeat_ngram_size, length_penalty, forced_bos_token_id).
- ``t5-tiny/``: ``T5ForConditionalGeneration`` v1.0 style (ReLU feed-forward, tied head), a
  Unigram tokenizer (``tokenizer.json`` with ``</s>``, ``<pad>``, ``<unk>`` and eight
  ``<extra_id_N>``), the generation config t5-base has, and t5-base's
  ``task_specific_params`` (summarization and translation_en_to_de / _fr / _ro prefixes).
- ``pipeline_outputs.json``: one record per case: the pipeline's task, the model folder, the
  call's input and keyword arguments, what HF's pipeline returned, the input ids HF fed the
  encoder, and the warnings it logged.

The models' weights are drawn with a large enough spread (BART ``init_std``) that greedy and
beam choices are not near ties, so float32 rounding on other backends cannot flip a token.
"""

import collections
import json
import logging
import math
import os
import shutil
import sys
import warnings

os.environ.setdefault("USE_TF", "0")  # PyTorch's pipelines only

import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "seq2seq")

# Training text of the tokenizers, and the source of the documents below.
CORPUS = [
    "The tower is 324 metres tall, about the same height as an 81-storey building.",
    "It was the tallest man-made structure in the world for 41 years.",
    "Its base is square, measuring 125 metres on each side.",
    "The weather today is sunny with a light breeze from the west.",
    "Scientists discovered a new species of frog in the rain forest last spring.",
    "The committee will meet on Monday to discuss the budget for next year.",
    "Prices of fresh vegetables rose sharply after the long dry summer.",
    "The children played football in the park until the sun went down.",
    "A new bridge across the river will open to traffic in early June.",
    "The museum shows paintings, maps and old letters from the city's history.",
    "How old are you? I am twenty years old and I live in Berlin.",
    "My name is Sarah and I live in London with my brother and two cats.",
    "translate English to German: The house is wonderful.",
    "translate English to French: The book is on the table.",
    "summarize: studies have shown that owning a dog is good for you.",
    "Das Haus ist wunderbar. Ich wohne in Berlin und arbeite in einer Bank.",
    "Der Turm ist 324 Meter hoch und war lange das hoechste Bauwerk der Welt.",
    "Le livre est sur la table. J'habite a Paris avec ma soeur.",
    "La tour mesure 324 metres et sa base est carree.",
    "question: What is 42? context: 42 is the answer to life, the universe and everything.",
]

DOCUMENT = (
    "The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest structure "
    "in Paris. Its base is square, measuring 125 metres on each side."
)
DOCUMENTS = [
    DOCUMENT,
    "Scientists discovered a new species of frog in the rain forest last spring.",
    "The committee will meet on Monday to discuss the budget for next year, and prices rose sharply.",
]
LONG_DOCUMENT = " ".join(CORPUS)  # well over BART's 128 positions
SENTENCES = ["The house is wonderful.", "How old are you?", "My name is Sarah and I live in London."]

BART_SUMMARIZATION = {"min_length": 8, "max_length": 30, "num_beams": 3, "no_repeat_ngram_size": 3,
                      "length_penalty": 2.0, "early_stopping": True, "forced_bos_token_id": 0}
T5_TASK_PARAMS = {
    "summarization": {"early_stopping": True, "length_penalty": 2.0, "max_length": 24, "min_length": 6,
                      "no_repeat_ngram_size": 3, "num_beams": 4, "prefix": "summarize: "},
    "translation_en_to_de": {"early_stopping": True, "max_length": 20, "num_beams": 4,
                             "prefix": "translate English to German: "},
    "translation_en_to_fr": {"early_stopping": True, "max_length": 18, "num_beams": 3,
                             "prefix": "translate English to French: "},
    "translation_en_to_ro": {"early_stopping": True, "max_length": 16, "num_beams": 2,
                             "prefix": "translate English to Romanian: "},
}
T5_EXTRA_IDS = 8


def train_bart_tokenizer():
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.add_special_tokens(["<mask>"])
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                            add_prefix_space=False)
    return transformers.BartTokenizerFast(tokenizer_object=tokenizer, model_max_length=128, bos_token="<s>",
                                          eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>",
                                          pad_token="<pad>", mask_token="<mask>")


def unigram_pieces(size):
    """A Unigram vocabulary of ``size`` pieces from CORPUS: every character, then the substrings (of words
    with the ``▁`` word-start mark) that cover the most text, scored by their log frequency.

    Counted here rather than by ``tokenizers``' UnigramTrainer, whose result changes from run to run.
    """
    words = collections.Counter(w for line in CORPUS for w in line.split())
    counts = collections.Counter()
    for word, n in words.items():
        marked = "▁" + word
        for i in range(len(marked)):
            for j in range(i + 1, min(len(marked), i + 10) + 1):
                counts[marked[i:j]] += n
    chars = sorted(p for p in counts if len(p) == 1)
    longer = sorted((p for p in counts if len(p) > 1 and counts[p] > 1), key=lambda p: (-counts[p] * len(p), p))
    chosen = chars + longer[:size - len(chars)]
    total = sum(counts[p] for p in chosen)
    return [(p, math.log(counts[p] / total)) for p in chosen]


def train_t5_tokenizer():
    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    tokenizer = Tokenizer(models.Unigram(specials + unigram_pieces(300), unk_id=2, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.add_special_tokens([t for t, _ in specials])
    # t5's order: <extra_id_0> has the highest id
    extra = [f"<extra_id_{i}>" for i in range(T5_EXTRA_IDS)]
    tokenizer.add_special_tokens(list(reversed(extra)))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))])
    return transformers.T5TokenizerFast(tokenizer_object=tokenizer, model_max_length=512, eos_token="</s>",
                                        unk_token="<unk>", pad_token="<pad>", extra_ids=T5_EXTRA_IDS,
                                        additional_special_tokens=extra)


def build_bart(folder):
    tokenizer = train_bart_tokenizer()
    config = transformers.BartConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        init_std=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
        forced_eos_token_id=2, task_specific_params={"summarization": dict(BART_SUMMARIZATION)},
    )
    torch.manual_seed(0)
    model = transformers.BartForConditionalGeneration(config).eval()
    with torch.no_grad():  # final_logits_bias (a buffer HF saves): readable text (merged tokens over single
        # bytes, which often decode to U+FFFD) and an eos likely enough that some rows end early
        model.final_logits_bias.normal_(0.0, 0.5)
        model.final_logits_bias[0, 4:260] -= 3.0
        model.final_logits_bias[0, 2] = 1.5
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=0, eos_token_id=2, pad_token_id=1, decoder_start_token_id=2, forced_bos_token_id=0,
        forced_eos_token_id=2, max_length=40, num_beams=2, no_repeat_ngram_size=3,
    )
    _save(model, tokenizer, folder)
    tokenizer.backend_tokenizer.model.save(folder)  # vocab.json and merges.txt, as BART checkpoints have them


def build_t5(folder):
    tokenizer = train_t5_tokenizer()
    config = transformers.T5Config(
        vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2,
        relative_attention_num_buckets=8, relative_attention_max_distance=20, feed_forward_proj="relu",
        tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, initializer_factor=3.0,
        task_specific_params=json.loads(json.dumps(T5_TASK_PARAMS)),
    )
    torch.manual_seed(1)
    model = transformers.T5ForConditionalGeneration(config).eval()
    with torch.no_grad():  # a short <pad> row (the tied head's logit of <pad>, which would decode to nothing)
        model.shared.weight[0] *= 0.1
    # t5-base's generation_config.json: only the special tokens (max_length stays the global 20).
    model.generation_config = transformers.GenerationConfig(decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    _save(model, tokenizer, folder)


def _save(model, tokenizer, folder):
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


# (case name, model folder, task, pipeline kwargs, call input, call kwargs). Two T5 cases run 4.57's
# max_new_tokens=256 default (which beats max_length: the model's generation config leaves it at 20);
# the others ask for fewer tokens, to keep the tests fast.
CASES = [
    ("bart_summarization_single", "bart-tiny", "summarization", {}, DOCUMENT, {}),
    ("bart_summarization_batch", "bart-tiny", "summarization", {}, DOCUMENTS, {"batch_size": 2}),
    ("bart_summarization_return_tensors", "bart-tiny", "summarization", {}, DOCUMENTS[:2],
     {"return_tensors": True, "batch_size": 2}),
    ("bart_summarization_min_max_length", "bart-tiny", "summarization", {}, DOCUMENT,
     {"min_length": 5, "max_length": 12}),
    ("bart_summarization_max_below_min", "bart-tiny", "summarization", {}, DOCUMENT,
     {"min_length": 10, "max_length": 6}),
    ("bart_summarization_greedy_clean_up", "bart-tiny", "summarization", {}, DOCUMENTS[1],
     {"num_beams": 1, "clean_up_tokenization_spaces": True}),
    ("bart_summarization_long_truncated", "bart-tiny", "summarization", {}, LONG_DOCUMENT, {"truncation": True}),
    ("bart_summarization_empty", "bart-tiny", "summarization", {}, "", {}),
    ("bart_summarization_init_kwargs", "bart-tiny", "summarization", {"num_beams": 2, "min_length": 3},
     DOCUMENTS[2], {"max_length": 14}),
    ("bart_text2text", "bart-tiny", "text2text-generation", {}, DOCUMENTS[:2], {}),
    ("bart_text2text_num_return_sequences", "bart-tiny", "text2text-generation", {}, DOCUMENTS[1],
     {"num_beams": 3, "num_return_sequences": 2, "max_new_tokens": 10}),
    ("t5_translation_en_to_de_single", "t5-tiny", "translation_en_to_de", {}, SENTENCES[0], {}),
    ("t5_translation_en_to_de_batch", "t5-tiny", "translation_en_to_de", {}, SENTENCES,
     {"batch_size": 2, "max_new_tokens": 24}),
    ("t5_translation_bare_task", "t5-tiny", "translation", {}, SENTENCES[1], {"max_new_tokens": 16}),
    ("t5_translation_src_tgt", "t5-tiny", "translation_en_to_fr", {}, SENTENCES[2],
     {"src_lang": "en", "tgt_lang": "fr", "max_new_tokens": 16}),
    ("t5_translation_no_prefix", "t5-tiny", "translation_en_to_it", {}, SENTENCES[0], {"max_new_tokens": 16}),
    ("t5_translation_return_tensors", "t5-tiny", "translation_en_to_ro", {}, SENTENCES,
     {"return_tensors": True, "batch_size": 3, "max_new_tokens": 12}),
    ("t5_summarization", "t5-tiny", "summarization", {}, DOCUMENTS[1], {"max_new_tokens": 12}),
    ("t5_summarization_max_length_only", "t5-tiny", "summarization", {}, DOCUMENTS[2], {"max_length": 10}),
    ("t5_text2text_greedy", "t5-tiny", "text2text-generation", {}, CORPUS[-1],
     {"num_beams": 1, "max_new_tokens": 20}),
    ("t5_text2text_num_return_sequences", "t5-tiny", "text2text-generation", {}, SENTENCES[:2],
     {"num_beams": 2, "num_return_sequences": 2, "max_new_tokens": 8, "batch_size": 2}),
]


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def run_cases():
    records = []
    handler = _Collect()
    logging.getLogger("transformers").addHandler(handler)
    transformers.logging.set_verbosity_warning()
    for name, folder, task, init_kwargs, inputs, call_kwargs in CASES:
        path = os.path.join(OUT, folder)
        handler.messages.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pipe = transformers.pipeline(task, model=path, framework="pt", **init_kwargs)
            encoder_inputs = _encoder_ids(pipe, inputs, call_kwargs)
            output = pipe(inputs, **call_kwargs)
        records.append({
            "name": name, "model": folder, "task": task, "init_kwargs": init_kwargs, "inputs": inputs,
            "call_kwargs": call_kwargs, "output": _plain(output), "input_ids": encoder_inputs,
            "warnings": sorted(set(m for m in handler.messages + [str(w.message) for w in caught]
                                   if "deprecat" not in m.lower() and not m.startswith("Device set to"))),
        })
        print(name, json.dumps(records[-1]["output"])[:160], file=sys.stderr)
    logging.getLogger("transformers").removeHandler(handler)
    return records


def _encoder_ids(pipe, inputs, call_kwargs):
    """The ids the pipeline gives the encoder for each input (the task prefix included)."""
    truncation = call_kwargs.get("truncation", False)
    texts = inputs if isinstance(inputs, list) else [inputs]
    return [pipe.tokenizer((pipe.prefix or "") + text, truncation=truncation)["input_ids"] for text in texts]


def main():
    os.makedirs(OUT, exist_ok=True)
    build_bart(os.path.join(OUT, "bart-tiny"))
    build_t5(os.path.join(OUT, "t5-tiny"))
    records = run_cases()
    with open(os.path.join(OUT, "pipeline_outputs.json"), "w") as f:
        json.dump({"transformers_version": transformers.__version__, "cases": records}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
