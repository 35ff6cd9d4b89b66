"""Seq2SeqTrainer, Seq2SeqTrainingArguments and fit on a tiny T5, against transformers 5.

- One training step of ``Seq2SeqTrainer`` matches HF's on the same random T5 and batch (loss
  and every weight within 1e-5), and ``predict`` with ``predict_with_generate`` gives HF's
  predictions, labels and loss.
- The generation settings reach ``generate`` (arguments, generation config), and the
  predictions are padded as HF pads them.
- A tiny T5 learns to reverse short strings with ``Seq2SeqTrainer`` (exact match >= 90% on
  held-out strings, generated).
- ``fit`` on the model's own loss (labels inside the inputs) lowers the loss.

The data is made here: strings of distinct letters, tokenized one character per token by a
WordLevel ``tokenizers.Tokenizer`` wrapped as keras_tfm's (and transformers') tokenizer.
"""

import os

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer

if keras.backend.backend() == "torch" and "OMP_NUM_THREADS" not in os.environ:
    import torch

    torch.set_num_threads(1)  # tiny matmuls: threads only contend on a loaded machine

LETTERS = "abcdefghij"
SPECIAL = {"<pad>": 0, "</s>": 1, "<unk>": 2}
TOKENS = dict(pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def char_tokenizer_object():
    """One token per character, ``</s>`` appended, decoded without spaces."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {**SPECIAL, **{c: i + len(SPECIAL) for i, c in enumerate(LETTERS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), "isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return tokenizer


@pytest.fixture(scope="module")
def tok():
    return PreTrainedTokenizer(char_tokenizer_object(), **TOKENS)


def hf_tokenizer():
    import transformers

    return transformers.PreTrainedTokenizerFast(tokenizer_object=char_tokenizer_object(), **TOKENS)


def strings(n, seed, shortest=3, longest=6):
    """``n`` strings of distinct letters (so every target position is fixed by its left neighbour)."""
    rng = np.random.RandomState(seed)
    return ["".join(rng.choice(list(LETTERS), rng.randint(shortest, longest + 1), replace=False)) for _ in range(n)]


def reverse_rows(tokenizer, texts):
    return [{**tokenizer(s), "labels": tokenizer(s[::-1])["input_ids"]} for s in texts]


def t5_config(**kwargs):
    base = dict(vocab_size=len(SPECIAL) + len(LETTERS), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
                pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    base.update(kwargs)
    return base


def exact_match(tokenizer):
    def compute(p):
        predictions = np.where(p.predictions == -100, tokenizer.pad_token_id, p.predictions)
        labels = np.where(p.label_ids == -100, tokenizer.pad_token_id, p.label_ids)
        got = tokenizer.batch_decode(predictions, skip_special_tokens=True)
        want = tokenizer.batch_decode(labels, skip_special_tokens=True)
        return {"exact_match": float(np.mean([a == b for a, b in zip(got, want)]))}

    return compute


def hf_initialised_t5(folder, seed=0, **config):
    """A random T5 built (and initialised) by transformers, saved, loaded by keras_tfm: the same start on every
    backend."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    hf_model = transformers.T5ForConditionalGeneration(transformers.T5Config(**t5_config(**config)))
    hf_model.save_pretrained(folder)
    return keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(folder), hf_model


def np_weights(model):
    return {k: np.asarray(v) for k, v in model.state_dict_hf().items()}


def test_one_step_and_generated_predictions_match_transformers(tmp_path, tok):
    transformers = pytest.importorskip("transformers")
    datasets = pytest.importorskip("datasets")
    model, hf_model = hf_initialised_t5(tmp_path / "init")  # v1.0: head tied, scaled by d_model ** -0.5
    hf_tok = hf_tokenizer()
    train, test = strings(8, seed=0), strings(6, seed=1)
    settings = dict(max_steps=1, per_device_train_batch_size=8, per_device_eval_batch_size=4, learning_rate=1e-3,
                    weight_decay=0.1, max_grad_norm=0.5, warmup_steps=0, logging_steps=1, save_strategy="no",
                    disable_tqdm=True, report_to="none", predict_with_generate=True, generation_max_length=9)
    hf_trainer = transformers.Seq2SeqTrainer(
        model=hf_model, args=transformers.Seq2SeqTrainingArguments(str(tmp_path / "hf"), use_cpu=True, **settings),
        train_dataset=datasets.Dataset.from_list(reverse_rows(hf_tok, train)),
        data_collator=transformers.DataCollatorForSeq2Seq(hf_tok, model=hf_model), processing_class=hf_tok)
    hf_out = hf_trainer.train()
    hf_pred = hf_trainer.predict(datasets.Dataset.from_list(reverse_rows(hf_tok, test)))

    ours = Seq2SeqTrainer(model=model, args=Seq2SeqTrainingArguments(str(tmp_path / "ours"), **settings),
                          train_dataset=reverse_rows(tok, train), processing_class=tok,
                          data_collator=DataCollatorForSeq2Seq(tok, model=model))
    out = ours.train()
    assert abs(out.training_loss - hf_out.training_loss) < 1e-5, (out.training_loss, hf_out.training_loss)
    theirs = {k: v.detach().numpy() for k, v in hf_model.state_dict().items()}
    mine = np_weights(ours.model)
    assert mine
    for name, value in mine.items():
        np.testing.assert_allclose(value, theirs[name], atol=1e-5, err_msg=name)

    pred = ours.predict(reverse_rows(tok, test))
    np.testing.assert_array_equal(pred.predictions, hf_pred.predictions)
    np.testing.assert_array_equal(pred.label_ids, hf_pred.label_ids)
    assert pred.predictions.shape[1] == 20  # padded up to the model's generation_config.max_length, as HF
    assert abs(pred.metrics["test_loss"] - hf_pred.metrics["test_loss"]) < 1e-5


def test_tiny_t5_learns_to_reverse_strings(tmp_path, tok):
    """Trained from a random start, generation reverses held-out strings (exact match >= 90%)."""
    model, _ = hf_initialised_t5(tmp_path / "init", d_model=64, d_kv=16, d_ff=128, tie_word_embeddings=False)
    train, held_out = strings(6400, seed=0), strings(100, seed=1)
    args = Seq2SeqTrainingArguments(str(tmp_path / "out"), learning_rate=3e-3, num_train_epochs=4,
                                    per_device_train_batch_size=64, per_device_eval_batch_size=100,
                                    predict_with_generate=True, generation_max_length=10, save_strategy="no",
                                    logging_steps=50, disable_tqdm=True)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=reverse_rows(tok, train),
                             eval_dataset=reverse_rows(tok, held_out), processing_class=tok,
                             data_collator=DataCollatorForSeq2Seq(tok, model=model), compute_metrics=exact_match(tok))
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_exact_match"] >= 0.9, metrics
    assert metrics["eval_loss"] < 0.2, metrics


def padded(ids, width, pad=0):
    ids = np.asarray(keras.ops.convert_to_numpy(ids))
    return np.pad(ids, ((0, 0), (0, max(width - ids.shape[1], 0))), constant_values=pad)


def test_generation_settings_reach_generate(tmp_path, tok):
    from keras_tfm.generation import GenerationConfig

    model, _ = hf_initialised_t5(tmp_path / "init")
    rows = reverse_rows(tok, strings(5, seed=3))
    batch = DataCollatorForSeq2Seq(tok, return_tensors="np")(rows)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def trainer(**kwargs):  # the default collator: DataCollatorForSeq2Seq(tok, model)
        args = Seq2SeqTrainingArguments(str(tmp_path / "out"), per_device_eval_batch_size=8, predict_with_generate=True,
                                        disable_tqdm=True, **kwargs)
        return Seq2SeqTrainer(model=model, args=args, processing_class=tok)

    by_args = trainer(generation_max_length=6, generation_num_beams=3).predict(rows)
    expected = model.generate(**inputs, max_length=6, num_beams=3)
    np.testing.assert_array_equal(by_args.predictions, padded(expected, 20))  # padded to generation_config.max_length
    np.testing.assert_array_equal(by_args.label_ids, padded(batch["labels"], 20))  # -100 kept, pad id beyond
    by_call = trainer(generation_max_length=6).predict(rows, max_length=4, num_beams=2)
    np.testing.assert_array_equal(by_call.predictions, padded(model.generate(**inputs, max_length=4, num_beams=2), 20))

    unlabelled = [{k: v for k, v in row.items() if k != "labels"} for row in rows]
    out = trainer(generation_max_length=6).predict(unlabelled)
    assert out.label_ids is None and "test_loss" not in out.metrics and out.predictions.shape == (5, 20)

    plain = trainer(generation_max_length=6)
    plain.args.predict_with_generate = False
    logits, encoder_states = plain.predict(rows).predictions  # what HF gives for T5 too
    assert logits.shape == (*batch["labels"].shape, t5_config()["vocab_size"])
    assert encoder_states.shape == (*batch["input_ids"].shape, t5_config()["d_model"])

    GenerationConfig(max_length=7, decoder_start_token_id=0, eos_token_id=1, pad_token_id=0).save_pretrained(
        tmp_path / "gen")
    configured = trainer(generation_config=str(tmp_path / "gen"))
    assert model.generation_config.max_length == 7
    assert configured.predict(rows).predictions.shape == (5, 7)
    assert isinstance(configured.args.to_dict()["generation_config"], str)


def test_seq2seq_training_arguments():
    transformers = pytest.importorskip("transformers")
    ours = Seq2SeqTrainingArguments("x")
    theirs = transformers.Seq2SeqTrainingArguments("x", report_to="none")
    for name in ("predict_with_generate", "generation_max_length", "generation_num_beams", "generation_config",
                 "sortish_sampler", "learning_rate", "per_device_eval_batch_size"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert isinstance(ours, keras_tfm.TrainingArguments)
    with pytest.raises(TypeError, match="'predict_with_generat'.*did you mean 'predict_with_generate'"):
        Seq2SeqTrainingArguments("x", predict_with_generat=True)
    with pytest.raises(ValueError, match="generation_num_beams"):
        Seq2SeqTrainingArguments("x", generation_num_beams=0)
    with pytest.raises(TypeError, match="generation_max_length"):  # a plain TrainingArguments does not take it
        keras_tfm.TrainingArguments("x", generation_max_length=5)
    assert '"predict_with_generate": true' in Seq2SeqTrainingArguments("x", predict_with_generate=True).to_json_string()


def test_fit_on_the_model_loss_lowers_it(tmp_path, tok):
    model, _ = hf_initialised_t5(tmp_path / "init")
    rows = reverse_rows(tok, strings(128, seed=2))
    collator = DataCollatorForSeq2Seq(tok, model=model)
    data = model.prepare_dataset(rows, batch_size=32, collate_fn=collator, shuffle=False)  # (inputs, labels)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(data, verbose=0, return_dict=True)["loss"]
    history = model.fit(data, epochs=4, verbose=0).history["loss"]
    after = model.evaluate(data, verbose=0, return_dict=True)["loss"]
    assert history[-1] < history[0] and after < 0.7 * before, (before, history, after)
    same_length = collator([{**tok(s), "labels": tok(s[::-1])["input_ids"]} for s in strings(16, seed=4, longest=3)])
    inside = {k: keras.ops.convert_to_numpy(v) for k, v in same_length.items()}  # labels inside the inputs
    assert np.isfinite(model.fit(inside, batch_size=8, epochs=1, verbose=0).history["loss"][0])


def test_bad_input(tmp_path, tok):
    model, _ = hf_initialised_t5(tmp_path / "init")
    args = Seq2SeqTrainingArguments(str(tmp_path / "out"), max_steps=1, disable_tqdm=True, save_strategy="no")
    rows = reverse_rows(tok, strings(4, seed=5))
    rows[2]["labels"] = [3, 99, 1]  # beyond the vocabulary
    with pytest.raises(ValueError, match="label 99, out of range.*vocab_size=13"):
        Seq2SeqTrainer(model=model, args=args, train_dataset=rows,
                       data_collator=DataCollatorForSeq2Seq(tok, model=model)).train()
    with pytest.raises(TypeError, match="generation_config"):
        Seq2SeqTrainer(model=model, args=Seq2SeqTrainingArguments(str(tmp_path / "o"), generation_config=3))
    with pytest.raises(ValueError, match=r"needs decoder_input_ids \(or labels"):  # no labels in the data
        Seq2SeqTrainer(model=model, args=args, processing_class=tok,
                       train_dataset=[{**tok(s)} for s in strings(4, seed=5)]).train()
