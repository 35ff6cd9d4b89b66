"""Speech training on every backend, with tones the test makes (no downloads).

- ``DataCollatorCTCWithPadding`` / ``DataCollatorSpeechSeq2SeqWithPadding`` give the batches of the
  collators in HF's docs (run with HF's processors) from keras_tfm's processors.
- Wav2Vec2ForCTC: the CTC loss and its gradient equal HF's for the same batch and weights
  (SpecAugment off); ``Trainer`` steps equal HF ``Trainer``'s (losses and weights) and lower the loss;
  Keras ``fit`` lowers the loss on "words" spelled by tone sequences.
- WhisperForConditionalGeneration: ``Seq2SeqTrainer`` lowers the loss and ``predict_with_generate``
  gives ``generate``'s tokens.
- Wav2Vec2ForSequenceClassification: ``fit`` learns which of three pitches a noisy tone has.

The training data of each test has clips of one length and labels of one length: JAX compiles few shapes.
"""

import json
import os

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import (
    DataCollatorCTCWithPadding,
    DataCollatorSpeechSeq2SeqWithPadding,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainingArguments,
    backend,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")

if keras.backend.backend() == "torch" and "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)  # tiny convolutions: threads only contend on a loaded machine

RATE = 16000
LETTERS = {"a": 300.0, "b": 1200.0, "c": 3600.0}  # CTC: each letter is a tone of its own pitch
WORDS = ["abc", "acb", "bac", "bca", "cab", "cba"]
# Classification and Whisper: the pitch is the answer (words of one length: one label shape).
PITCHES = {"low": 300.0, "mid": 1200.0, "top": 3600.0}
CTC_VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "a": 5, "b": 6, "c": 7}
WAV2VEC2 = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(16, 16),
                conv_stride=(8, 8), conv_kernel=(16, 8), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
                hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                final_dropout=0.0, layerdrop=0.0, mask_time_prob=0.0, mask_feature_prob=0.0, apply_spec_augment=False)
WHISPER_SPECIAL = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                   "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]


# ---- audio the tests make --------------------------------------------------------------------------------
def tone(freq, seconds, rng):
    """A sine of ``freq`` Hz (+-5%), random amplitude and phase, in white noise."""
    t = np.arange(int(round(RATE * seconds))) / RATE
    freq *= rng.uniform(0.95, 1.05)
    wave = rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return (wave + rng.normal(0, 0.05, t.shape)).astype("float32")


def spelled(word, rng, letter_s=0.06):
    """A clip spelling ``word``: one tone per letter."""
    return np.concatenate([tone(LETTERS[c], letter_s, rng) for c in word])


def pitch_clips(n, seed, seconds=0.2):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, len(PITCHES), n)
    names = list(PITCHES)
    return [tone(PITCHES[names[y]], seconds, rng) for y in labels], labels


# ---- processors and models, built by transformers and loaded by keras_tfm ---------------------------------
@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """HF processors and randomly initialised HF models (torch.manual_seed), saved: the same start everywhere."""
    root = tmp_path_factory.mktemp("audio_training")
    with open(root / "vocab.json", "w") as f:
        json.dump(CTC_VOCAB, f)
    ctc_processor = transformers.Wav2Vec2Processor(
        feature_extractor=transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True),
        tokenizer=transformers.Wav2Vec2CTCTokenizer(str(root / "vocab.json")))
    torch.manual_seed(0)
    ctc = transformers.Wav2Vec2ForCTC(transformers.Wav2Vec2Config(
        vocab_size=len(CTC_VOCAB), pad_token_id=0, ctc_loss_reduction="mean", **WAV2VEC2))
    ctc.save_pretrained(root / "ctc")
    ctc_processor.save_pretrained(root / "ctc")

    tokens = {c: i for i, c in enumerate([*"abcdefghijklmnopqrstuvwxyz", "Ġ", *WHISPER_SPECIAL])}
    whisper_tokenizer = transformers.WhisperTokenizer(vocab=tokens, merges=[], pad_token="<|endoftext|>")
    whisper_tokenizer.add_special_tokens({"additional_special_tokens": WHISPER_SPECIAL[1:]})
    whisper_tokenizer.set_prefix_tokens(language="en", task="transcribe", predict_timestamps=False)
    whisper_processor = transformers.WhisperProcessor(
        feature_extractor=transformers.WhisperFeatureExtractor(feature_size=8, chunk_length=1, hop_length=160),
        tokenizer=whisper_tokenizer)
    eot, sot = tokens["<|endoftext|>"], tokens["<|startoftranscript|>"]
    torch.manual_seed(0)
    whisper = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(
        vocab_size=len(tokens), num_mel_bins=8, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=50, max_target_positions=16, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
        decoder_start_token_id=sot, suppress_tokens=[], begin_suppress_tokens=[], dropout=0.0))
    whisper.generation_config.max_length = 12
    whisper.save_pretrained(root / "whisper")
    whisper_processor.save_pretrained(root / "whisper")
    return root


def ctc_rows(processor, n, seed, words=WORDS):
    """``n`` examples: a spelled word's ``input_values`` and its character ``labels``."""
    rng = np.random.RandomState(seed)
    rows = []
    for i in range(n):
        word = words[rng.randint(len(words))]
        values = processor(spelled(word, rng), sampling_rate=RATE)["input_values"][0]
        rows.append({"input_values": np.asarray(values, "float32"), "labels": list(processor(text=word)["input_ids"])})
    return rows


def hf_docs_ctc_collator(processor, features):
    """The collator of HF's speech-recognition task guide, on HF's processor."""
    input_features = [{"input_values": feature["input_values"]} for feature in features]
    label_features = [{"input_ids": feature["labels"]} for feature in features]
    batch = processor.pad(input_features, padding=True, return_tensors="pt")
    labels_batch = processor.pad(labels=label_features, padding=True, return_tensors="pt")
    batch["labels"] = labels_batch["input_ids"].masked_fill(labels_batch.attention_mask.ne(1), -100)
    return batch


def hf_docs_seq2seq_collator(processor, decoder_start_token_id, features):
    """The collator of HF's Whisper fine-tuning guide, on HF's processor."""
    input_features = [{"input_features": feature["input_features"]} for feature in features]
    batch = processor.feature_extractor.pad(input_features, return_tensors="pt")
    label_features = [{"input_ids": feature["labels"]} for feature in features]
    labels_batch = processor.tokenizer.pad(label_features, return_tensors="pt")
    labels = labels_batch["input_ids"].masked_fill(labels_batch.attention_mask.ne(1), -100)
    if (labels[:, 0] == decoder_start_token_id).all().cpu().item():
        labels = labels[:, 1:]
    batch["labels"] = labels
    return batch


def whisper_rows(processor, n, seed):
    clips, labels = pitch_clips(n, seed)
    names = list(PITCHES)
    features = processor.feature_extractor(clips, sampling_rate=RATE)["input_features"]
    return [{"input_features": np.asarray(f, "float32"), "labels": list(processor.tokenizer(names[y])["input_ids"])}
            for f, y in zip(features, labels)]


def np_weights(model):
    return {k: np.asarray(v) for k, v in model.state_dict_hf().items()}


def to_numpy(batch):
    return {k: np.asarray(backend.to_numpy(v)) for k, v in batch.items()}


# ---- collators -------------------------------------------------------------------------------------------
def test_collators_give_the_batches_of_hf_docs(folders):
    hf_ctc = transformers.Wav2Vec2Processor.from_pretrained(folders / "ctc")
    ours_ctc = keras_tfm.AutoProcessor.from_pretrained(folders / "ctc")
    rng = np.random.RandomState(0)
    clips = [rng.standard_normal(n).astype("float32") for n in (700, 1000, 400)]
    texts = ["abc", "a", "cab|ba"]
    rows = [{"input_values": ours_ctc(c, sampling_rate=RATE)["input_values"][0],
             "labels": ours_ctc(text=t)["input_ids"]} for c, t in zip(clips, texts)]
    want = {k: v.numpy() for k, v in hf_docs_ctc_collator(hf_ctc, rows).items()}
    got = to_numpy(DataCollatorCTCWithPadding(ours_ctc)(rows))
    assert sorted(got) == sorted(want) == ["attention_mask", "input_values", "labels"]
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert got["labels"][1].tolist() == [5, -100, -100, -100, -100, -100]
    wide = DataCollatorCTCWithPadding(ours_ctc, pad_to_multiple_of=128, pad_to_multiple_of_labels=8,
                                      return_tensors="np")(rows)
    assert wide["input_values"].shape == (3, 1024) and wide["labels"].shape == (3, 8)

    hf_whisper = transformers.WhisperProcessor.from_pretrained(folders / "whisper")
    ours_whisper = keras_tfm.AutoProcessor.from_pretrained(folders / "whisper")
    start = hf_whisper.tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    rows = whisper_rows(ours_whisper, 3, seed=0)
    rows[1]["labels"] = list(ours_whisper.tokenizer("a")["input_ids"])  # labels of different lengths
    assert rows[0]["labels"][0] == start and len({len(r["labels"]) for r in rows}) > 1
    want = {k: v.numpy() for k, v in hf_docs_seq2seq_collator(hf_whisper, start, rows).items()}
    got = to_numpy(DataCollatorSpeechSeq2SeqWithPadding(ours_whisper, decoder_start_token_id=start)(rows))
    assert sorted(got) == sorted(want) == ["input_features", "labels"]
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)

    with pytest.raises(ValueError, match="example 1 has no 'input_values'"):
        DataCollatorCTCWithPadding(ours_ctc)([{"input_values": clips[0], "labels": [5]}, {"labels": [5]}])
    with pytest.raises(TypeError, match="feature_extractor and a tokenizer"):
        DataCollatorCTCWithPadding(ours_ctc.tokenizer)


# ---- Wav2Vec2ForCTC --------------------------------------------------------------------------------------
def loss_and_gradients(model, inputs):
    """(loss, gradients of the trainable variables) of ``model``'s own loss, on the active backend."""
    variables = model.trainable_variables
    name = keras.backend.backend()
    if name == "torch":
        loss = model(**inputs, training=True).loss
        grads = torch.autograd.grad(loss, [v.value for v in variables])
        return float(loss), [g.numpy() for g in grads]
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = model(**inputs, training=True).loss
        return float(loss), [g.numpy() for g in tape.gradient(loss, variables)]
    import jax

    fixed = [v.value for v in model.non_trainable_variables]

    def objective(values):
        return model.stateless_call(values, fixed, training=True, **inputs)[0]["loss"]

    loss, grads = jax.jit(jax.value_and_grad(objective))([v.value for v in variables])  # eager grad: slower
    return float(loss), [np.asarray(g) for g in grads]


def test_ctc_loss_and_gradient_equal_transformers(folders):
    """The gradient is compared in HF's layout: the weights moved by it, through the converter, are HF's moved by
    HF's gradient."""
    hf_model = transformers.Wav2Vec2ForCTC.from_pretrained(folders / "ctc")
    processor = keras_tfm.AutoProcessor.from_pretrained(folders / "ctc")
    rows = ctc_rows(processor, 4, seed=0, words=["abc", "ab", "c", "cab"])  # labels of different lengths
    rows[1]["input_values"] = rows[1]["input_values"][:-200]  # and a shorter clip: padded, masked
    batch = DataCollatorCTCWithPadding(processor, return_tensors="np")(rows)
    hf_out = hf_model(**{k: torch.tensor(v) for k, v in batch.items()})
    hf_out.loss.backward()
    hf_grads = {k: p.grad.numpy() for k, p in hf_model.named_parameters() if p.grad is not None}

    model = keras_tfm.Wav2Vec2ForCTC.from_pretrained(folders / "ctc")
    before = np_weights(model)
    loss, grads = loss_and_gradients(model, batch)
    assert abs(loss - float(hf_out.loss)) < 1e-5, (loss, float(hf_out.loss))
    for variable, grad in zip(model.trainable_variables, grads):
        variable.assign(keras.ops.convert_to_numpy(variable.value) - grad)
    moved = {k: before[k] - v for k, v in np_weights(model).items()}  # = the gradient, in HF's layout
    for name, grad in hf_grads.items():
        np.testing.assert_allclose(moved[name], grad, atol=1e-5, rtol=1e-4, err_msg=name)
    assert len(hf_grads) > 20


def test_trainer_steps_equal_transformers_and_lower_the_loss(folders, tmp_path):
    """Six ``Trainer`` steps on one batch of 8 (the whole data set: the same batch whatever the shuffling) give
    HF ``Trainer``'s losses step by step and its weights, and the loss falls."""
    hf_processor = transformers.Wav2Vec2Processor.from_pretrained(folders / "ctc")
    processor = keras_tfm.AutoProcessor.from_pretrained(folders / "ctc")
    rows = ctc_rows(processor, 8, seed=1)
    settings = dict(max_steps=6, per_device_train_batch_size=8, learning_rate=1e-2, weight_decay=0.1,
                    max_grad_norm=0.5, warmup_steps=0, logging_steps=1, save_strategy="no", disable_tqdm=True,
                    report_to="none")
    hf_model = transformers.Wav2Vec2ForCTC.from_pretrained(folders / "ctc")
    hf_trainer = transformers.Trainer(
        model=hf_model, args=transformers.TrainingArguments(str(tmp_path / "hf"), use_cpu=True, **settings),
        train_dataset=datasets.Dataset.from_list(rows),
        data_collator=lambda features: hf_docs_ctc_collator(hf_processor, features))
    hf_trainer.train()
    ours = Trainer(model=keras_tfm.Wav2Vec2ForCTC.from_pretrained(folders / "ctc"),
                   args=TrainingArguments(str(tmp_path / "ours"), **settings), train_dataset=rows,
                   data_collator=DataCollatorCTCWithPadding(processor))
    ours.train()
    losses = [entry["loss"] for entry in ours.state.log_history if "loss" in entry]
    hf_losses = [entry["loss"] for entry in hf_trainer.state.log_history if "loss" in entry]
    np.testing.assert_allclose(losses, hf_losses, atol=1e-4)
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0], losses
    theirs = {k: v.detach().numpy() for k, v in hf_model.state_dict().items()}
    for name, value in np_weights(ours.model).items():
        np.testing.assert_allclose(value, theirs[name], atol=1e-4, err_msg=name)


def test_fit_lowers_the_ctc_loss(folders):
    processor = keras_tfm.AutoProcessor.from_pretrained(folders / "ctc")
    model = keras_tfm.AutoModelForCTC.from_pretrained(folders / "ctc")
    data = datasets.Dataset.from_list(ctc_rows(processor, 32, seed=3))
    train = model.prepare_tf_dataset(data, batch_size=16, collate_fn=DataCollatorCTCWithPadding(processor))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))  # no loss: the model's own CTC loss
    history = model.fit(train, epochs=4, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0], history


# ---- Whisper through Seq2SeqTrainer ------------------------------------------------------------------------
def test_seq2seq_trainer_trains_whisper_and_generates(folders, tmp_path):
    processor = keras_tfm.AutoProcessor.from_pretrained(folders / "whisper")
    model = keras_tfm.AutoModelForSpeechSeq2Seq.from_pretrained(folders / "whisper")
    collator = DataCollatorSpeechSeq2SeqWithPadding(processor, model.config.decoder_start_token_id)
    train, held_out = whisper_rows(processor, 24, seed=4), whisper_rows(processor, 6, seed=5)
    args = Seq2SeqTrainingArguments(str(tmp_path / "out"), learning_rate=1e-2, per_device_train_batch_size=8,
                                    per_device_eval_batch_size=6, num_train_epochs=3, save_strategy="no",
                                    disable_tqdm=True, logging_steps=1, predict_with_generate=True,
                                    generation_max_length=10)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train, data_collator=collator,
                             processing_class=processor.feature_extractor)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[-1] < 0.8 * losses[0], losses

    prediction = trainer.predict(held_out)
    batch = collator(held_out, return_tensors="np")
    expected = backend.to_numpy(model.generate(input_features=batch["input_features"], max_length=10))
    np.testing.assert_array_equal(prediction.predictions[:, :expected.shape[1]], expected)
    assert np.isfinite(prediction.metrics["test_loss"])
    texts = processor.batch_decode(prediction.predictions, skip_special_tokens=True)
    assert len(texts) == 6 and all(isinstance(t, str) for t in texts)


# ---- Wav2Vec2ForSequenceClassification through fit ----------------------------------------------------------
def test_fit_trains_an_audio_classifier(folders):
    processor = keras_tfm.AutoFeatureExtractor.from_pretrained(folders / "ctc")
    names = list(PITCHES)
    keras.utils.set_random_seed(0)
    model = keras_tfm.Wav2Vec2ForSequenceClassification.from_config(keras_tfm.Wav2Vec2Config(
        num_labels=3, classifier_proj_size=16, id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, **WAV2VEC2))

    def rows(n, seed):
        clips, labels = pitch_clips(n, seed)
        values = processor(clips, sampling_rate=RATE, return_tensors="np")["input_values"]
        return {"input_values": np.asarray(values, "float32"), "labels": labels}

    train = rows(64, seed=6)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit({"input_values": train["input_values"]}, train["labels"], batch_size=16, epochs=6,
                        verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0], history
    test = rows(48, seed=7)
    logits = backend.to_numpy(model(input_values=test["input_values"]).logits)
    assert float((np.argmax(logits, -1) == test["labels"]).mean()) >= 0.8
