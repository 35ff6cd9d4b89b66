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
