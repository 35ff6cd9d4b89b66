"""Keras compile/fit on the model's own loss, prepare_tf_dataset / prepare_dataset, on every backend."""

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import BertConfig, backend

datasets = pytest.importorskip("datasets")


def tiny_config(**kwargs):
    base = dict(vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                max_position_embeddings=32, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    base.update(kwargs)
    return BertConfig(**base)


def toy_rows(n=32, seed=0, min_len=3, max_len=9):
    """Token ids whose first token gives the label away: a task a tiny model learns in a few steps."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 2, n)
    ids = []
    for label in labels:
        row = [2] + list(rng.randint(10, 60, size=rng.randint(min_len, max_len)))
        row[1] = 5 + int(label)
        ids.append(row)
    return {"input_ids": ids, "attention_mask": [[1] * len(r) for r in ids], "label": [int(x) for x in labels],
            "text": ["unused"] * n}


class PadTok:
    """The few tokenizer members the padding collators use."""

    pad_token_id, padding_side = 0, "right"
    model_input_names = ["input_ids", "attention_mask"]

    def pad(self, rows, padding=True, max_length=None, pad_to_multiple_of=None, return_tensors=None):
        longest = max(len(r["input_ids"]) for r in rows)
        target = max_length if padding == "max_length" else longest
        if pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        return {k: np.array([list(r[k]) + [0] * (target - len(r[k])) for r in rows]) for k in rows[0]}


def fixed_padding():
    """One padded length for every batch: JAX and TF compile once instead of once per length."""
    return keras_tfm.DataCollatorWithPadding(PadTok(), pad_to_multiple_of=16)


def test_fit_on_internal_loss_with_metrics_and_validation():
    keras.utils.set_random_seed(0)
    model = keras_tfm.BertForSequenceClassification.from_config(tiny_config())
    ds = datasets.Dataset.from_dict(toy_rows())
    train = model.prepare_tf_dataset(ds, batch_size=8, shuffle=True, collate_fn=fixed_padding())
    model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])  # no loss: the model's own
    history = model.fit(train, epochs=8, validation_data=model.prepare_tf_dataset(ds, 8, False, collate_fn=fixed_padding()),
                        verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert history["accuracy"][-1] >= 0.9 and "val_loss" in history and "val_accuracy" in history
    # The loss fit reports is the model's own (HF) loss on the batch.
    x, y = next(iter(model.prepare_tf_dataset(ds, 32, False, collate_fn=fixed_padding())))
    x = {k: np.asarray(v) for k, v in x.items()}
    own = float(backend.to_numpy(model(**x, labels=np.asarray(y)).loss))
    assert abs(model.evaluate(model.prepare_tf_dataset(ds, 32, False, collate_fn=fixed_padding()), verbose=0,
                              return_dict=True)["loss"]
               - own) < 1e-4
    preds = model.predict(model.prepare_tf_dataset(ds, 8, False, collate_fn=fixed_padding()), verbose=0)
    assert sorted(preds) == ["logits"] and preds["logits"].shape == (32, 2)


def test_fit_with_keras_loss_still_works():
    keras.utils.set_random_seed(0)
    model = keras_tfm.BertForSequenceClassification.from_config(tiny_config())
    data = model.prepare_tf_dataset(toy_rows(), batch_size=8, collate_fn=fixed_padding())
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(data, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


def test_labels_inside_the_inputs_dict_and_other_heads():
    keras.utils.set_random_seed(0)
    rows = toy_rows(16)
    # Token classification: labels per token, padded with -100 by its collator.
    model = keras_tfm.BertForTokenClassification.from_config(tiny_config(num_labels=3))
    token_rows = dict(rows, labels=[[i % 3 for i in range(len(r))] for r in rows["input_ids"]])
    token_rows.pop("label")
    collator = keras_tfm.DataCollatorForTokenClassification(PadTok(), pad_to_multiple_of=16)
    model.compile(optimizer="adam")
    model.fit(model.prepare_tf_dataset(token_rows, 8, collate_fn=collator), epochs=1, verbose=0)
    # Question answering: two label columns, given to the model by name.
    qa = keras_tfm.BertForQuestionAnswering.from_config(tiny_config())
    qa_rows = dict(rows, start_positions=[1] * 16, end_positions=[2] * 16)
    qa_rows.pop("label")
    data = qa.prepare_tf_dataset(qa_rows, 8, collate_fn=fixed_padding())
    x, y = next(iter(data))
    assert sorted(y) == ["end_positions", "start_positions"]
    qa.compile(optimizer="adam")
    assert np.isfinite(qa.fit(data, epochs=1, verbose=0).history["loss"][0])
    # A plain dict of numpy arrays with the labels inside works too.
    seq = keras_tfm.BertForSequenceClassification.from_config(tiny_config())
    seq.compile(optimizer="adam")
    x = {"input_ids": np.ones((8, 5), "int32"), "labels": np.zeros(8, "int32")}
    assert np.isfinite(seq.fit(x, batch_size=4, epochs=1, verbose=0).history["loss"][0])


def test_prepare_tf_dataset_filters_columns_and_renames_labels():
    import tensorflow as tf

    model = keras_tfm.BertForSequenceClassification.from_config(tiny_config())
    ds = datasets.Dataset.from_dict(toy_rows(20))
    data = model.prepare_tf_dataset(ds, batch_size=8, shuffle=False, tokenizer=PadTok())
    assert isinstance(data, tf.data.Dataset) and len(data) == 3
    shapes = []
    for x, y in data:
        assert sorted(x) == ["attention_mask", "input_ids"]  # "text" dropped, "label" moved to y
        shapes.append(int(x["input_ids"].shape[1]))
        assert y.shape[0] == x["input_ids"].shape[0]
    lengths = [len(r) for r in toy_rows(20)["input_ids"]]
    assert shapes == [max(lengths[0:8]), max(lengths[8:16]), max(lengths[16:20])]  # padded per batch
    first = [np.asarray(x["input_ids"])[:, 1].tolist() for x, _ in model.prepare_tf_dataset(ds, 20, True, PadTok(), seed=1)]
    second = [np.asarray(x["input_ids"])[:, 1].tolist() for x, _ in model.prepare_tf_dataset(ds, 20, True, PadTok(), seed=2)]
    assert first != second  # shuffled


def test_prepare_dataset_gives_the_native_loader():
    model = keras_tfm.BertForSequenceClassification.from_config(tiny_config())
    loader = model.prepare_dataset(toy_rows(16), batch_size=8, collate_fn=fixed_padding())
    kind = {"torch": "DataLoader", "tensorflow": "Dataset", "jax": "PyDataset"}[keras.backend.backend()]
    assert kind in " ".join(c.__name__ for c in type(loader).__mro__)
    model.compile(optimizer="adam")
    assert np.isfinite(model.fit(loader, epochs=1, verbose=0).history["loss"][0])


def test_bad_input_is_a_clear_error():
    model = keras_tfm.BertForSequenceClassification.from_config(tiny_config())
    with pytest.raises(ValueError, match="no 'input_ids' column.*Tokenize"):
        model.prepare_tf_dataset({"text": ["a", "b"], "label": [0, 1]}, batch_size=2)
    rows = toy_rows(8)
    rows["label"][3] = 7
    with pytest.raises(ValueError, match="label 7, out of range.*num_labels=2"):
        model.prepare_tf_dataset(rows, batch_size=2, tokenizer=PadTok())
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="no labels"):
        model.fit({"input_ids": np.ones((4, 3), "int32")}, epochs=1, verbose=0)


def _page_faults_of_large_allocations():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        block = np.ones(1 << 20, np.float32)  # 4 MiB: served by mmap below glibc's threshold
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_tf_dataset_leaves_the_malloc_tuning_alone():
    """TF's Dataset.from_generator sets glibc's mmap threshold to 128 KiB process-wide, after which
    every large tensor is page-faulted in afresh (torch fit was 1.5x slower); our tf.data
    pipelines must not do that."""
    from keras_tfm.inference import _glibc, tune_allocator

    if not _glibc():
        pytest.skip("glibc malloc only")
    assert tune_allocator()
    model = keras_tfm.BertForSequenceClassification(tiny_config())
    for _ in model.prepare_tf_dataset(toy_rows(), batch_size=8, collate_fn=fixed_padding()):
        pass
    _page_faults_of_large_allocations()  # the first block may fault once
    assert _page_faults_of_large_allocations() < 2000  # 20 x 1024 pages when every block is mmap-ed
