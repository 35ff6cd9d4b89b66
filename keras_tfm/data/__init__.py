"""Small data sets shipped with keras_tfm.

``load_sentiment()``: 300 short English sentences written for this project, labelled
0 (NEGATIVE) or 1 (POSITIVE), balanced, split 226 train / 74 test. Returns a
``datasets.DatasetDict`` when the ``datasets`` library is installed (``as_dict=True``, or
without it: a ``{"train": {"text": [...], "label": [...]}, "test": ...}`` dict).
"""

import csv
import os

SENTIMENT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sentiment.csv")
SENTIMENT_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}


def load_sentiment(as_dict=False):
    splits = {"train": {"text": [], "label": []}, "test": {"text": [], "label": []}}
    with open(SENTIMENT_FILE, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            splits[row["split"]]["text"].append(row["text"])
            splits[row["split"]]["label"].append(int(row["label"]))
    if as_dict:
        return splits
    try:
        from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    except ImportError:
        return splits
    features = Features({"text": Value("string"), "label": ClassLabel(names=[SENTIMENT_LABELS[0], SENTIMENT_LABELS[1]])})
    return DatasetDict({name: Dataset.from_dict(data, features=features) for name, data in splits.items()})
