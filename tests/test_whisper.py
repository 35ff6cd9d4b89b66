"""Whisper against Hugging Face transformers 5 (PyTorch) on a tiny random model.

Logits and every hidden state both ways (HF saves, we load; we save, HF loads), the loss from
labels; ``generate`` token-identical to HF's for 32 new tokens, greedy and 3 beams, with a
forced language / task, with language detection, and with timestamps (whose segment loop
decodes the rest of the window again), from a generation config written as a real Whisper
checkpoint's; Whisper's processors against HF's on random scores; bad input.
"""

import numpy as np
import pytest
import torch
import transformers
from transformers.generation import logits_process as hf_lp

import keras_tfm
from keras_tfm.generation import GenerationConfig
from keras_tfm.generation import logits_process as lp
from keras_tfm.generation import whisper
import tests.generation_tester  # noqa: F401  (one torch thread, as the suite runs: tiny matmuls)
from tests.model_tester import ATOL, to_np

# A vocabulary with Whisper's special tokens at its end, as the real one: <|endoftext|>, <|startoftranscript|>,
# three languages, the two tasks, <|notimestamps|>, then timestamps <|0.00|> ... <|1.84|>.
VOCAB = 1600
EOT, SOT = 1500, 1501
LANG_TO_ID = {"<|en|>": 1502, "<|fr|>": 1503, "<|de|>": 1504}
TASK_TO_ID = {"translate": 1505, "transcribe": 1506}
NO_TIMESTAMPS = 1507
MEL, SOURCE_POSITIONS = 8, 16  # input_features (B, 8, 32)
CONFIG = dict(vocab_size=VOCAB, num_mel_bins=MEL, d_model=16, encoder_layers=1, decoder_layers=2,
              encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=24, decoder_ffn_dim=20,
              max_source_positions=SOURCE_POSITIONS, max_target_positions=64, pad_token_id=EOT, bos_token_id=EOT,
              eos_token_id=EOT, decoder_start_token_id=SOT, init_std=0.5, begin_suppress_tokens=[220, EOT],
              suppress_tokens=[1, 2, 7])
# generation_config.json as a multilingual Whisper checkpoint has it
GENERATION = dict(decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT,
                  lang_to_id=LANG_TO_ID, task_to_id=TASK_TO_ID, no_timestamps_token_id=NO_TIMESTAMPS,
                  is_multilingual=True, suppress_tokens=[1, 2, 7, 1400], begin_suppress_tokens=[220, EOT],
                  max_initial_timestamp_index=5, max_length=64,
                  forced_decoder_ids=[[1, None], [2, TASK_TO_ID["transcribe"]]])


def features(batch=2, seed=0):
    return np.random.RandomState(seed).randn(batch, MEL, 2 * SOURCE_POSITIONS).astype("float32")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """HF's model, saved with its generation config, and ours loaded from the folder."""
    torch.manual_seed(0)
    hf = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(**CONFIG)).eval()
    hf.generation_config = transformers.GenerationConfig(**GENERATION)
    path = tmp_path_factory.mktemp("whisper")
    hf.save_pretrained(path)
    return hf, path, keras_tfm.AutoModelForSpeechSeq2Seq.from_pretrained(path)


def decoder_ids(batch=2, length=6, seed=1):
    ids = np.random.RandomState(seed).randint(0, VOCAB, (batch, length))
    ids[:, 0] = SOT
    return ids


def worst_difference(ours, theirs, keys):
    worst = 0.0
    for key in keys:
        mine, hf = ours[key], theirs[key]
        pairs = list(zip(mine, hf)) if isinstance(hf, tuple) else [(mine, hf)]
        assert not isinstance(hf, tuple) or len(mine) == len(hf), key
        for a, b in pairs:
            a, b = to_np(a), b.detach().numpy()
            assert a.shape == b.shape, (key, a.shape, b.shape)
            worst = max(worst, float(np.abs(a - b).max()))
    return worst


def test_hf_checkpoint_loads_and_matches(checkpoint):
    hf, path, ours = checkpoint
    assert type(ours).__name__ == "WhisperForConditionalGeneration"
    labels = decoder_ids(seed=2)
    labels[0, -2:] = -100
    inputs = {"input_features": features(), "decoder_input_ids": decoder_ids(), "labels": labels}
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True)
    mine = ours(**inputs, output_hidden_states=True)
    keys = ["logits", "encoder_last_hidden_state", "encoder_hidden_states", "decoder_hidden_states"]
    assert worst_difference(mine, theirs, keys) <= ATOL
    assert abs(float(to_np(mine.loss)) - theirs.loss.item()) <= 1e-5
    del inputs["labels"]
    base = keras_tfm.AutoModel.from_pretrained(path)  # the backbone alone, from the task checkpoint
    assert type(base).__name__ == "WhisperModel"
    assert worst_difference(base(**inputs), {"last_hidden_state": hf.model(
        **{k: torch.tensor(v) for k, v in inputs.items()}).last_hidden_state}, ["last_hidden_state"]) <= ATOL


@pytest.mark.parametrize("tied", [True, False])
def test_saved_checkpoint_loads_in_hf(tied, tmp_path):
    config = keras_tfm.WhisperConfig(**{**CONFIG, "encoder_layers": 1, "decoder_layers": 1}, tie_word_embeddings=tied)
    ours = keras_tfm.WhisperForConditionalGeneration.from_config(config)
    ours.save_pretrained(tmp_path)
    hf = transformers.WhisperForConditionalGeneration.from_pretrained(tmp_path).eval()
    inputs = {"input_features": features(seed=3), "decoder_input_ids": decoder_ids(seed=4)}
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True)
    assert worst_difference(ours(**inputs, output_hidden_states=True), theirs,
                            ["logits", "encoder_hidden_states", "decoder_hidden_states"]) <= ATOL
    assert torch.equal(hf.proj_out.weight, hf.model.decoder.embed_tokens.weight) is tied


# beam search on one input (three rows), greedy on three: the compiled decode steps are shared
GENERATE_CASES = {
    "greedy-fr-transcribe": (3, dict(language="fr", task="transcribe")),
    "greedy-timestamps-detected-language": (3, dict(return_timestamps=True)),
    "beams-de-translate": (1, dict(language="german", task="translate", num_beams=3)),
    "beams-timestamps-en": (1, dict(language="<|en|>", return_timestamps=True, num_beams=3)),
}


@pytest.mark.parametrize("case", sorted(GENERATE_CASES))
def test_generate_matches_hf(checkpoint, case):
    hf, _, ours = checkpoint
    batch, kwargs = GENERATE_CASES[case]
    inputs = features(batch, seed=0)
    with torch.no_grad():
        theirs = hf.generate(torch.tensor(inputs), max_new_tokens=32, return_segments=True, **kwargs)
    mine = ours.generate(inputs, max_new_tokens=32, return_segments=True, **kwargs)
    np.testing.assert_array_equal(to_np(mine["sequences"]), theirs["sequences"].numpy())
    for our_row, hf_row in zip(mine["segments"], theirs["segments"]):
        assert [(round(s["start"], 6), round(s["end"], 6), s["tokens"].tolist()) for s in our_row] == [
            (round(float(s["start"]), 6), round(float(s["end"]), 6), s["tokens"].tolist()) for s in hf_row]
    if kwargs.get("return_timestamps"):  # the case tests the timestamp rules: some row has timestamps
        assert (to_np(mine["sequences"]) > NO_TIMESTAMPS).any()


def test_prompt_and_language_detection(checkpoint):
    hf, _, ours = checkpoint
    inputs = features(3, seed=5)  # three rows, as the greedy cases: the same compiled shapes
    detected = whisper.detect_language(ours, inputs)
    np.testing.assert_array_equal(detected, hf.detect_language(torch.tensor(inputs)).numpy())
    out = ours.generate(inputs, max_new_tokens=3, language=["fr", "de", "english"], return_dict_in_generate=True)
    prompt = to_np(out["sequences"])[:, :4]  # the returned generation output keeps the decoder prompt
    np.testing.assert_array_equal(prompt, [[SOT, lang, TASK_TO_ID["transcribe"], NO_TIMESTAMPS]
                                           for lang in (1503, 1504, 1502)])


def test_processors_match_hf():
    rng = np.random.RandomState(0)
    begin = 3
    config = transformers.GenerationConfig(no_timestamps_token_id=NO_TIMESTAMPS, eos_token_id=EOT,
                                           max_initial_timestamp_index=4)
    ours_config = GenerationConfig(no_timestamps_token_id=NO_TIMESTAMPS, eos_token_id=EOT,
                                   max_initial_timestamp_index=4)
    pairs = [(lp.SuppressTokensLogitsProcessor([1, 5, 1599]), hf_lp.SuppressTokensLogitsProcessor([1, 5, 1599])),
             (lp.SuppressTokensAtBeginLogitsProcessor([220, EOT], begin),
              hf_lp.SuppressTokensAtBeginLogitsProcessor([220, EOT], begin)),
             (lp.WhisperTimeStampLogitsProcessor(ours_config, begin),
              hf_lp.WhisperTimeStampLogitsProcessor(config, begin))]
    ts = NO_TIMESTAMPS + 1
    # rows after the prompt: nothing yet; text; a lone timestamp; a pair; a pair then text; timestamps rising
    rows = [[], [5], [ts + 3], [ts + 2, ts + 2], [ts + 1, 9, ts + 4, ts + 4, 11], [ts, 8, ts + 6]]
    for generated in rows:
        ids = np.array([[SOT, 1502, 1506] + generated] * 2)
        scores = (rng.randn(2, VOCAB) * 3).astype("float32")
        scores[1, ts:] += 6  # the second row: timestamps likelier than text
        for ours, theirs in pairs:
            np.testing.assert_array_equal(ours(ids, scores), theirs(torch.tensor(ids), torch.tensor(scores)).numpy())


def test_bad_input(checkpoint):
    _, _, ours = checkpoint
    with pytest.raises(ValueError, match="chunk_length_s"):
        ours.generate(np.zeros((1, MEL, 4 * SOURCE_POSITIONS), "float32"))
    with pytest.raises(ValueError, match="num_mel_bins=8"):
        ours.generate(np.zeros((1, MEL + 1, 2 * SOURCE_POSITIONS), "float32"))
    with pytest.raises(ValueError, match="Unsupported language: klingon"):
        ours.generate(features(), language="klingon", max_new_tokens=2)
    with pytest.raises(ValueError, match="English-only"):
        ours.generate(features(), language="fr", is_multilingual=False, max_new_tokens=2)
    with pytest.raises(ValueError, match="mel input features to be of length 32"):
        ours(input_features=np.zeros((1, MEL, 30), "float32"), decoder_input_ids=[[SOT]])
