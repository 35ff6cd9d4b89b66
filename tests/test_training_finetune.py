"""Acceptance: fine-tune the real all-MiniLM-L6-v2 with a new classification head on the shipped
sentiment data, through Keras ``fit`` and through ``Trainer``; >= 85% test accuracy on each backend."""

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
from keras_tfm.data import SENTIMENT_LABELS, load_sentiment
from tests.conftest import minilm_dir

pytest.importorskip("datasets")
pytestmark = pytest.mark.slow

MAX_LENGTH = 16  # every shipped sentence fits (<= 16 tokens); one padded length: one XLA compilation


@pytest.fixture(scope="module")
def data():
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    ds = load_sentiment()
    ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=MAX_LENGTH), batched=True)
    return tokenizer, ds


def test_shipped_data_set():
    ds = load_sentiment()
    assert len(ds["train"]) >= 200 and len(ds["test"]) >= 60
    for split in ("train", "test"):
        labels = np.array(ds[split]["label"])
        assert abs(labels.mean() - 0.5) < 0.05  # balanced
    assert not set(ds["train"]["text"]) & set(ds["test"]["text"])
    plain = load_sentiment(as_dict=True)
    assert plain["train"]["text"] == ds["train"]["text"]


def new_model():
    keras.utils.set_random_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        minilm_dir(), num_labels=2, id2label=SENTIMENT_LABELS, label2id={v: k for k, v in SENTIMENT_LABELS.items()})


def test_fine_tune_with_fit(data):
    tokenizer, ds = data
    model = new_model()
    collator = keras_tfm.DataCollatorWithPadding(tokenizer, padding="max_length", max_length=MAX_LENGTH)
    train = model.prepare_tf_dataset(ds["train"], batch_size=16, shuffle=True, collate_fn=collator,
                                     drop_remainder=True)
    test = model.prepare_tf_dataset(ds["test"], batch_size=len(ds["test"]), shuffle=False, collate_fn=collator)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), metrics=["accuracy"])  # the model's own loss
    model.fit(train, epochs=1, verbose=0)
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    print(f"fit: test accuracy {accuracy:.3f}")
    assert accuracy >= 0.85


def test_fine_tune_with_trainer_then_pipeline(data, tmp_path):
    tokenizer, ds = data
    model = new_model()

    def compute_metrics(p):
        return {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())}

    args = TrainingArguments(str(tmp_path / "out"), learning_rate=1e-4, per_device_train_batch_size=16,
                             per_device_eval_batch_size=len(ds["test"]), num_train_epochs=1, save_strategy="no",
                             logging_steps=5, seed=42, dataloader_drop_last=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["test"],
                      processing_class=tokenizer, compute_metrics=compute_metrics,
                      data_collator=keras_tfm.DataCollatorWithPadding(tokenizer, padding="max_length",
                                                                      max_length=MAX_LENGTH))
    trainer.train()
    metrics = trainer.evaluate()
    print(f"Trainer: test accuracy {metrics['eval_accuracy']:.3f}")
    assert metrics["eval_accuracy"] >= 0.85
    classifier = keras_tfm.pipeline("sentiment-analysis", model=model, tokenizer=tokenizer)
    results = classifier(["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it."])
    assert [r["label"] in ("POSITIVE", "NEGATIVE") for r in results] == [True, True]
    print("pipeline:", results)
