"""A captioner trained end to end on every backend: VisionEncoderDecoderModel (a tiny ViT + GPT-2 with
cross-attention) learns to caption pictures of shapes ("a red square", "two blue triangles",
``keras_tfm.data.shapes``) from random weights, with a word-level tokenizer trained on the captions.

- ``Seq2SeqTrainer`` with ``predict_with_generate``: the generated captions of held-out pictures, decoded,
  equal the true ones on >= 90% of them (a broken loss, label shift or generate stays far below).
- Keras ``fit`` on the model's own loss: the same on its generate; saved with its tokenizer and image
  processor, ``pipeline("image-to-text", model=folder)`` gives the same captions.

Captions are all three words + ``</s>``: labels of one length, one shape for JAX to compile.
"""

import os

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import (GPT2Config, Seq2SeqTrainer, Seq2SeqTrainingArguments, ViTConfig, ViTImageProcessor,
                       VisionEncoderDecoderConfig, VisionEncoderDecoderModel, backend, pipeline)
from keras_tfm.data.shapes import caption_tokenizer, shape_captions

if keras.backend.backend() == "torch" and "OMP_NUM_THREADS" not in os.environ:
    import torch

    torch.set_num_threads(1)  # tiny matmuls: threads only contend on a loaded machine

SIZE, TRAIN, HELD_OUT = 32, 2048, 100


@pytest.fixture(scope="module")
def task():
    """Training rows, held-out pictures and captions, the tokenizer and the image processor."""
    images, captions = shape_captions(TRAIN, SIZE, seed=0)
    held_out, truth = shape_captions(HELD_OUT, SIZE, seed=1)
    tokenizer = caption_tokenizer(captions)
    processor = ViTImageProcessor(size={"height": SIZE, "width": SIZE}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    pixels = np.asarray(processor(images, return_tensors="np")["pixel_values"], "float32")
    labels = np.asarray(tokenizer(captions)["input_ids"], "int64")  # (TRAIN, 4): three words and </s>
    return dict(pixels=pixels, labels=labels, held_out=held_out, truth=truth, tokenizer=tokenizer,
                processor=processor)


def captioner(tokenizer, seed=0):
    """A random tiny ViT (32 px, patches of 8, 2 layers) + GPT-2 (1 layer), 32 wide."""
    encoder = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        image_size=SIZE, patch_size=8)
    decoder = GPT2Config(vocab_size=len(tokenizer), n_positions=8, n_embd=32, n_layer=1, n_head=2,
                         add_cross_attention=True, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        encoder, decoder, decoder_start_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id)
    keras.utils.set_random_seed(seed)
    return VisionEncoderDecoderModel.from_config(config)


def exact_match(texts, truth):
    return float(np.mean([t.strip() == c for t, c in zip(texts, truth)]))


def test_seq2seq_trainer_trains_a_captioner(task, tmp_path):
    tokenizer = task["tokenizer"]
    model = captioner(tokenizer)
    rows = [{"pixel_values": p, "labels": l} for p, l in zip(task["pixels"], task["labels"])]
    held_out_pixels = task["processor"](task["held_out"], return_tensors="np")["pixel_values"]
    held_out = [{"pixel_values": p, "labels": l}
                for p, l in zip(held_out_pixels, tokenizer(task["truth"])["input_ids"])]

    def metrics(prediction):
        return {"exact_match": exact_match(tokenizer.batch_decode(prediction.predictions, skip_special_tokens=True),
                                           task["truth"])}

    args = Seq2SeqTrainingArguments(str(tmp_path), learning_rate=3e-3, per_device_train_batch_size=32,
                                    per_device_eval_batch_size=HELD_OUT, num_train_epochs=5, save_strategy="no",
                                    disable_tqdm=True, logging_steps=64, predict_with_generate=True,
                                    generation_max_length=6, report_to=[], seed=0)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=rows, eval_dataset=held_out,
                             compute_metrics=metrics)
    trainer.train()
    result = trainer.evaluate()
    assert result["eval_exact_match"] >= 0.9, result


def test_fit_trains_a_captioner_and_the_pipeline_uses_it(task, tmp_path):
    tokenizer, processor = task["tokenizer"], task["processor"]
    model = captioner(tokenizer, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.PolynomialDecay(3e-3, 320, 0.0)))
    history = model.fit({"pixel_values": task["pixels"]}, task["labels"], batch_size=32, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0], history.history["loss"]

    pixels = processor(task["held_out"], return_tensors="np")["pixel_values"]
    generated = backend.to_numpy(model.generate(pixel_values=pixels, max_new_tokens=5))
    texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
    assert exact_match(texts, task["truth"]) >= 0.9, list(zip(texts, task["truth"]))[:10]

    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    # One batch of the held-out pictures: the shape generate() was compiled for above.
    captions = pipeline("image-to-text", model=str(tmp_path), max_new_tokens=5)(task["held_out"], batch_size=HELD_OUT)
    assert [c[0]["generated_text"] for c in captions] == texts
