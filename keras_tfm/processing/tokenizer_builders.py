"""Builds a ``tokenizers.Tokenizer`` from vocabulary files when a model has no tokenizer.json.

These families cover the models of this library, built as Hugging Face ``transformers`` 5
builds them (``BertTokenizer``, ``RobertaTokenizer``, ``GPT2Tokenizer``, ``T5Tokenizer``), so
that ids, offsets and decoding agree:

- WordPiece (BERT, DistilBERT, ...): ``vocab.txt``, BertNormalizer, BertPreTokenizer,
  ``[CLS] A [SEP] B [SEP]`` template, WordPiece decoder.
- Byte-level BPE (RoBERTa, BART, GPT-2): ``vocab.json`` + ``merges.txt``, ByteLevel
  pre-tokenizer and decoder, ``<s> A </s></s> B </s>`` (RoBERTa) or no special tokens (GPT-2).
- SentencePiece Unigram (T5, mT5): ``spiece.model`` read with the ``sentencepiece`` package,
  Precompiled normalizer, whitespace split + Metaspace, ``A </s> B </s>`` template, and the
  ``<extra_id_N>`` sentinels at the end of the vocabulary (``<extra_id_0>`` last).
"""

import base64
import json

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram, WordPiece

from keras_tfm.processing.sentencepiece_model import read_sentencepiece_model

WORDPIECE = "wordpiece"
ROBERTA = "roberta"  # byte-level BPE with <s> A </s></s> B </s>
GPT2 = "gpt2"  # byte-level BPE, no special tokens added by default
T5 = "t5"  # SentencePiece Unigram with A </s> B </s> and <extra_id_N> sentinels

WITH_TOKEN_TYPES = ["input_ids", "token_type_ids", "attention_mask"]
WITHOUT_TOKEN_TYPES = ["input_ids", "attention_mask"]

# tokenizer_class -> (family, model_input_names), as in transformers 5.
TOKENIZER_CLASSES = {
    "BertTokenizer": (WORDPIECE, WITH_TOKEN_TYPES),
    "DistilBertTokenizer": (WORDPIECE, WITHOUT_TOKEN_TYPES),
    "ElectraTokenizer": (WORDPIECE, WITH_TOKEN_TYPES),
    "MobileBertTokenizer": (WORDPIECE, WITH_TOKEN_TYPES),
    "LayoutLMTokenizer": (WORDPIECE, WITH_TOKEN_TYPES),
    "RobertaTokenizer": (ROBERTA, WITHOUT_TOKEN_TYPES),
    "BartTokenizer": (ROBERTA, WITHOUT_TOKEN_TYPES),
    "LongformerTokenizer": (ROBERTA, WITHOUT_TOKEN_TYPES),
    "GPT2Tokenizer": (GPT2, WITHOUT_TOKEN_TYPES),
    # Whisper's byte-level BPE has GPT-2's pipeline; WhisperTokenizer sets its prefix-token template.
    "WhisperTokenizer": (GPT2, WITHOUT_TOKEN_TYPES),
    "T5Tokenizer": (T5, WITHOUT_TOKEN_TYPES),
    "MT5Tokenizer": (T5, WITHOUT_TOKEN_TYPES),
}

# config.json model_type -> tokenizer_class, used when tokenizer_config.json names none.
MODEL_TYPE_TO_TOKENIZER_CLASS = {
    "bert": "BertTokenizer",
    # transformers 5 maps distilbert to BertTokenizer (adding token_type_ids); DistilBERT
    # models take no token_type_ids, so we keep the DistilBERT tokenizer here.
    "distilbert": "DistilBertTokenizer",
    "electra": "ElectraTokenizer",
    "mobilebert": "MobileBertTokenizer",
    "layoutlm": "BertTokenizer",
    "vilt": "BertTokenizer",
    "blip": "BertTokenizer",
    "roberta": "RobertaTokenizer",
    "bart": "RobertaTokenizer",
    "longformer": "RobertaTokenizer",
    "gpt2": "GPT2Tokenizer",
    "whisper": "WhisperTokenizer",
    "t5": "T5Tokenizer",
    "mt5": "T5Tokenizer",
}

# Special tokens each family uses when tokenizer_config.json does not name them.
DEFAULT_SPECIAL_TOKENS = {
    WORDPIECE: {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    },
    ROBERTA: {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    },
    GPT2: {
        "unk_token": "<|endoftext|>",
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
    },
    T5: {
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
    },
}

FAMILY_FILES = {
    WORDPIECE: ("vocab.txt",),
    ROBERTA: ("vocab.json", "merges.txt"),
    GPT2: ("vocab.json", "merges.txt"),
    T5: ("spiece.model",),
}

T5_SENTINEL = "<extra_id_{}>"
T5_DEFAULT_EXTRA_IDS = 100

# The class a folder of bare vocabulary files is read as.
FAMILY_CLASS = {WORDPIECE: "BertTokenizer", ROBERTA: "RobertaTokenizer"}


def base_class_name(tokenizer_class):
    """``BertTokenizerFast`` -> ``BertTokenizer``: the fast and slow names share one family."""
    if tokenizer_class and tokenizer_class.endswith("Fast"):
        return tokenizer_class[: -len("Fast")]
    return tokenizer_class


def family_of(tokenizer_class):
    """The builder family of a tokenizer class name, or None for a class we do not know."""
    info = TOKENIZER_CLASSES.get(base_class_name(tokenizer_class))
    return info[0] if info else None


def model_input_names_of(tokenizer_class):
    info = TOKENIZER_CLASSES.get(base_class_name(tokenizer_class))
    # transformers' base class default, for tokenizer.json files of classes we do not know.
    return list(info[1]) if info else list(WITHOUT_TOKEN_TYPES)


def family_from_files(has_file):
    """Picks a family by the vocabulary files a model ships (``has_file(name) -> bool``)."""
    if has_file("vocab.json") and has_file("merges.txt"):
        return ROBERTA
    if has_file("vocab.txt"):
        return WORDPIECE
    return None


def load_wordpiece_vocab(path):
    """vocab.txt: one token a line, its id is the line number (as transformers reads it)."""
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n"): index for index, line in enumerate(f)}


def build_tokenizer(family, files, config, special_tokens, added_tokens):
    """Builds the full tokenizer of ``family`` from its vocabulary ``files`` (name -> path).

    ``special_tokens`` maps names (``cls_token``...) to token strings. ``added_tokens`` (in
    order) are registered before the post-processor is made, so that a special token missing
    from the vocabulary gets the next free id and the template gets that id, as in transformers.
    """
    if family == T5:
        return _build_t5(files["spiece.model"], config, special_tokens, added_tokens)
    if family == WORDPIECE:
        unk = str(special_tokens.get("unk_token") or "[UNK]")
        model = WordPiece(load_wordpiece_vocab(files["vocab.txt"]), unk_token=unk)
    else:
        vocab, merges = BPE.read_file(files["vocab.json"], files["merges.txt"])
        model = BPE(
            vocab=vocab,
            merges=merges,
            dropout=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
        )
    tokenizer = Tokenizer(model)
    apply_family(tokenizer, family, config, special_tokens, added_tokens)
    return tokenizer


def _build_t5(spiece_path, config, special_tokens, added_tokens):
    """T5 from ``spiece.model``: its pieces, then the sentinels ``<extra_id_{n-1}>`` ... ``<extra_id_0>``."""
    spm = read_sentencepiece_model(spiece_path)
    if spm.model_type != "unigram":
        raise ValueError(
            f"{spiece_path!r} is a SentencePiece {spm.model_type} model; T5Tokenizer needs a unigram model."
        )
    pieces = list(spm.pieces)
    known = {piece for piece, _ in pieces}
    extra_ids = int(config.get("extra_ids", T5_DEFAULT_EXTRA_IDS))
    pieces += [(t, 0.0) for t in map(T5_SENTINEL.format, reversed(range(extra_ids))) if t not in known]
    tokenizer = Tokenizer(Unigram(pieces, unk_id=spm.unk_id, byte_fallback=spm.byte_fallback))
    if spm.precompiled_charsmap:
        tokenizer.normalizer = normalizers.Precompiled(spm.precompiled_charsmap)
    apply_family(tokenizer, T5, config, special_tokens, added_tokens)
    return tokenizer


def t5_extra_special_tokens(config, extra_tokens):
    """T5's unnamed special tokens: the config's, with the ``extra_ids`` sentinels when it names none.

    As transformers' ``T5Tokenizer``: a list that names sentinels must name ``extra_ids`` of them.
    """
    extra_ids = int(config.get("extra_ids", T5_DEFAULT_EXTRA_IDS))
    sentinels = [t for t in extra_tokens if t.startswith("<extra_id_")]
    if not sentinels:
        return list(extra_tokens) + [T5_SENTINEL.format(i) for i in range(extra_ids)]
    if extra_ids > 0 and extra_ids != len(sentinels):
        raise ValueError(
            f"The T5 tokenizer config names {len(sentinels)} <extra_id_N> tokens in its special tokens but "
            f"extra_ids={extra_ids}: they must agree (or drop extra_ids)."
        )
    return list(extra_tokens)


def apply_family(tokenizer, family, config, special_tokens, added_tokens):
    """Sets the pipeline of ``family`` around the model of ``tokenizer``, from config options.

    transformers 5 does this for a known tokenizer class even over a tokenizer.json (keeping
    only its vocabulary), so options such as ``do_lower_case`` or ``add_prefix_space`` given
    in tokenizer_config.json or to ``from_pretrained`` take effect.
    """
    if family == WORDPIECE:
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=config.get("tokenize_chinese_chars", True),
            strip_accents=config.get("strip_accents"),
            lowercase=config.get("do_lower_case", True),
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
    elif family == T5:
        # transformers 5 keeps only the Precompiled map of a saved normalizer (transformers 4 wrote
        # Sequence[Precompiled, Strip, Replace]); the whitespace split does their work.
        charsmap = precompiled_charsmap(tokenizer.normalizer)
        tokenizer.normalizer = normalizers.Precompiled(charsmap) if charsmap else None
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace("▁", prepend_scheme="always", split=True)]
        )
        tokenizer.decoder = decoders.Metaspace("▁", prepend_scheme="always", split=True)
    else:
        tokenizer.normalizer = None
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=config.get("add_prefix_space", False))
        tokenizer.decoder = decoders.ByteLevel()
    register_special_tokens(tokenizer, added_tokens)
    if family != GPT2 or tokenizer.post_processor is None:  # GPT-2 keeps a post-processor it was saved with
        tokenizer.post_processor = post_processor(family, tokenizer, config, special_tokens)


def register_special_tokens(tokenizer, tokens):
    """Adds the tokens that are not yet added tokens, so they are never split or normalized."""
    known = {str(t) for t in tokenizer.get_added_tokens_decoder().values()}
    new = []
    for token in tokens:
        if token is not None and str(token) not in known:
            known.add(str(token))
            new.append(token if isinstance(token, AddedToken) else AddedToken(token, special=True))
    # add_special_tokens would make every token special: add runs of each kind, in order (ids follow it).
    start = 0
    for end in range(1, len(new) + 1):
        if end == len(new) or new[end].special != new[start].special:
            run = new[start:end]
            (tokenizer.add_special_tokens if run[0].special else tokenizer.add_tokens)(run)
            start = end


def post_processor(family, tokenizer, config, special_tokens):
    def token_and_id(name, fallback_id):
        token = str(special_tokens[name])
        token_id = tokenizer.token_to_id(token)
        return token, fallback_id if token_id is None else token_id

    if family == WORDPIECE:
        cls, cls_id = token_and_id("cls_token", 2)
        sep, sep_id = token_and_id("sep_token", 3)
        return processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, cls_id), (sep, sep_id)],
        )
    if family == T5:
        eos, eos_id = token_and_id("eos_token", None)
        return processors.TemplateProcessing(
            single=f"$A:0 {eos}:0", pair=f"$A:0 {eos}:0 $B:0 {eos}:0", special_tokens=[(eos, eos_id)]
        )
    if family == ROBERTA:
        return processors.RobertaProcessing(
            token_and_id("sep_token", None),
            token_and_id("cls_token", None),
            trim_offsets=config.get("trim_offsets", True),
            add_prefix_space=config.get("add_prefix_space", False),
        )
    return _bos_eos_template(tokenizer, config, special_tokens)


def precompiled_charsmap(normalizer):
    """The SentencePiece map (bytes) of a Precompiled normalizer, alone or in a Sequence; else None."""
    if normalizer is None:
        return None
    spec = json.loads(normalizer.__getstate__())
    for part in spec.get("normalizers", [spec]) if spec.get("type") == "Sequence" else [spec]:
        if part.get("type") == "Precompiled" and part.get("precompiled_charsmap"):
            return base64.b64decode(part["precompiled_charsmap"])
    return None


def _bos_eos_template(tokenizer, config, special_tokens):
    """GPT-2: bos/eos only when add_bos_token / add_eos_token ask for them (both off by default)."""
    bos = special_tokens.get("bos_token") if config.get("add_bos_token") else None
    eos = special_tokens.get("eos_token") if config.get("add_eos_token") else None
    bos, eos = (None if t is None else str(t) for t in (bos, eos))
    single = f"{bos + ':0 ' if bos else ''}$A:0{' ' + eos + ':0' if eos else ''}"
    pair = f"{single}{' ' + bos + ':1' if bos else ''} $B:1{' ' + eos + ':1' if eos else ''}"
    used = [t for t in dict.fromkeys((bos, eos)) if t]
    return processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(t, tokenizer.token_to_id(t)) for t in used]
    )
