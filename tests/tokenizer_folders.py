"""Tiny T5 and BART tokenizers trained in a test, for tests that need a real sequence-to-sequence tokenizer.

- ``train_t5_spiece(folder)``: a SentencePiece model (``spiece.model``) with T5's ids
  (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, no ``<s>``), trained with ``sentencepiece``.
- ``train_byte_level_bpe()``: a byte-level BPE with BART's special tokens, trained with ``tokenizers``.
- ``save_t5_tokenizer(folder)`` / ``save_bart_tokenizer(folder)``: the tokenizer files
  transformers 5 writes for them (tokenizer.json + tokenizer_config.json), ready to sit beside a
  tiny model's config.json. A T5 tokenizer has ``vocab_size + extra_ids`` ids, a BART one ``vocab_size``.
- ``save_ctc_tokenizer(folder)`` / ``save_whisper_tokenizer(folder)``: the speech tokenizers, as
  transformers 5 saves them (Wav2Vec2's 32-character CTC vocabulary; a tiny Whisper BPE with all
  of Whisper's special, language and timestamp tokens).
"""

import json
import random
import tempfile
from pathlib import Path

import sentencepiece
import transformers
from tokenizers import ByteLevelBPETokenizer

BART_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def corpus(n_lines=500, seed=0):
    """Lines of varied words (syllable salads, accents, digits, punctuation) for the trainers."""
    rng = random.Random(seed)
    syllables = ["ka", "to", "ri", "ne", "su", "mo", "la", "pi", "de", "gu", "an", "er", "in", "on", "th", "sh",
                 "qu", "ou", "ie", "st"]
    words = ["the", "quick", "brown", "fox", "summarize", "translate", "English", "German", "café", "naïve",
             "über", "Straße", "123", "4.5", "isn't", ",", ".", "!", "?", "(a)", "日本", "😀", "Hello", "world"]
    words += ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(300)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 15))) for _ in range(n_lines)]


def train_t5_spiece(folder, vocab_size=200, model_type="unigram", lines=None):
    """Trains a SentencePiece model with T5's special ids; writes ``folder/spiece.model`` and returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        text = Path(scratch) / "corpus.txt"
        text.write_text("\n".join(lines or corpus()), encoding="utf-8")
        sentencepiece.SentencePieceTrainer.train(
            input=str(text), model_prefix=str(Path(scratch) / "spiece"), vocab_size=vocab_size,
            model_type=model_type, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
            minloglevel=2)
        path = folder / "spiece.model"
        path.write_bytes((Path(scratch) / "spiece.model").read_bytes())
    return path


def train_byte_level_bpe(vocab_size=500, lines=None):
    """A byte-level BPE (``tokenizers.ByteLevelBPETokenizer``) with BART's special tokens at ids 0-4."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines or corpus(seed=1), vocab_size=vocab_size, min_frequency=2,
                            special_tokens=BART_SPECIAL_TOKENS)
    return bpe


def save_t5_tokenizer(folder, vocab_size=200, extra_ids=100, **config):
    """Writes the tokenizer files transformers 5's T5Tokenizer saves; returns that tokenizer."""
    with tempfile.TemporaryDirectory() as scratch:
        train_t5_spiece(scratch, vocab_size)
        tokenizer = transformers.T5Tokenizer.from_pretrained(scratch, extra_ids=extra_ids, **config)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def save_bart_tokenizer(folder, vocab_size=500, **config):
    """Writes the tokenizer files transformers 5's BartTokenizer saves; returns that tokenizer."""
    with tempfile.TemporaryDirectory() as scratch:
        train_byte_level_bpe(vocab_size).save_model(scratch)
        tokenizer = transformers.BartTokenizer.from_pretrained(scratch, **config)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


# Wav2Vec2's character vocabulary (facebook/wav2vec2-base-960h's ids): <pad> is the CTC blank, | the space.
CTC_VOCAB = {token: index for index, token in enumerate(
    ["<pad>", "<s>", "</s>", "<unk>", "|"] + list("ETAONIHSRDLUMWCFGYPBVK'XJQZ"))}


def save_ctc_tokenizer(folder, vocab=None, **config):
    """Writes the files transformers 5's Wav2Vec2CTCTokenizer saves (vocab.json, tokenizer_config.json); returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps(vocab or CTC_VOCAB), encoding="utf-8")
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(vocab_file), **config)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def whisper_special_tokens(n_languages=99):
    """Whisper's special tokens in its order: <|endoftext|>, <|startoftranscript|>, languages, tasks..."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{code}|>" for code in list(LANGUAGES)[:n_languages]]
            + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
               "<|notimestamps|>"])


def whisper_timestamp_tokens():
    return [f"<|{i * 0.02:.2f}|>" for i in range(1501)]


def save_whisper_tokenizer(folder, vocab_size=300, **config):
    """A tiny Whisper tokenizer saved by transformers 5 (tokenizer.json + tokenizer_config.json); returns it.

    Its layout is Whisper's: the byte-level BPE, then <|endoftext|>, <|startoftranscript|>, 99
    language tokens, the task and <|notimestamps|> tokens (special), then the 1501 timestamp
    tokens <|0.00|> ... <|30.00|> (not special): ``vocab_size + 1608`` ids in all.
    """
    with tempfile.TemporaryDirectory() as scratch:
        train_byte_level_bpe_plain(vocab_size).save_model(scratch)
        tokenizer = transformers.WhisperTokenizer.from_pretrained(scratch, **config)
    tokenizer.add_special_tokens({"additional_special_tokens": whisper_special_tokens()})
    tokenizer.add_tokens(whisper_timestamp_tokens())
    tokenizer.save_pretrained(str(folder))
    return transformers.AutoTokenizer.from_pretrained(str(folder))


def train_byte_level_bpe_plain(vocab_size=300, lines=None):
    """A byte-level BPE without special tokens (Whisper adds its own after the merges)."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines or corpus(seed=2), vocab_size=vocab_size, min_frequency=2)
    return bpe
