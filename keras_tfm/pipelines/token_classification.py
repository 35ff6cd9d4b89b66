"""``token-classification`` (alias ``ner``): a label for each token, or grouped entities."""

import numpy as np

from keras_tfm.pipelines.base import Pipeline, check_text, softmax

AGGREGATION_STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    """Labels the tokens of texts with any ``*ForTokenClassification`` model.

    Example:
        >>> ner = pipeline("ner", model=folder, aggregation_strategy="simple")
        >>> ner("My name is Sarah and I live in London")
        [{'entity_group': 'PER', 'score': 0.99, 'word': 'sarah', 'start': 11, 'end': 16}, ...]

    Call arguments: ``aggregation_strategy`` ("none", "simple", "first", "average",
    "max", as in Hugging Face), ``ignore_labels`` (["O"] by default), ``stride`` (cut
    long texts into overlapping windows of ``model_max_length`` tokens),
    ``is_split_into_words`` and ``delimiter`` for pre-split words.
    """

    chunked = True
    output_keys = ("logits",)
    _load_tokenizer = True
    token_output_keys = ("logits",)

    def _sanitize_parameters(self, ignore_labels=None, aggregation_strategy=None, offset_mapping=None,
                             is_split_into_words=False, stride=None, delimiter=None):
        preprocess = {"is_split_into_words": is_split_into_words}
        if is_split_into_words:
            preprocess["delimiter"] = " " if delimiter is None else delimiter
        if offset_mapping is not None:
            preprocess["offset_mapping"] = offset_mapping
        postprocess = {}
        if aggregation_strategy is not None:
            aggregation_strategy = _strategy(aggregation_strategy)
            postprocess["aggregation_strategy"] = aggregation_strategy
        if ignore_labels is not None:
            postprocess["ignore_labels"] = list(ignore_labels)
        if stride is not None:
            if stride >= self.tokenizer.model_max_length:
                raise ValueError(f"stride={stride} must be less than tokenizer.model_max_length "
                                 f"({self.tokenizer.model_max_length}).")
            if aggregation_strategy in (None, "none"):
                raise ValueError('stride needs an aggregation_strategy other than "none" to merge the windows.')
            preprocess["tokenizer_params"] = {"return_overflowing_tokens": True, "stride": stride}
        return preprocess, {}, postprocess

    def __call__(self, inputs, **kwargs):
        """Labels one text (-> a list of dicts) or a list of texts (-> a list of lists)."""
        if kwargs.get("is_split_into_words") and isinstance(inputs, (list, tuple)) and inputs \
                and all(isinstance(word, str) for word in inputs):
            return super().__call__([list(inputs)], **kwargs)  # one pre-split sentence: [[...]], as HF
        return super().__call__(inputs, **kwargs)

    # ---- preprocess ---------------------------------------------------------------
    def preprocess(self, sentence, offset_mapping=None, is_split_into_words=False, delimiter=None,
                   tokenizer_params=None):
        """One feature per window of ``sentence`` (one window unless ``stride`` is set)."""
        tokenizer_params = dict(tokenizer_params or {})
        word_to_chars = None
        if is_split_into_words:
            if not isinstance(sentence, (list, tuple)) or not all(isinstance(w, str) for w in sentence):
                raise ValueError("With is_split_into_words=True, each input must be a list of words (str).")
            words = list(sentence)
            sentence = delimiter.join(words)  # the text the character spans point into
            word_to_chars = _word_spans(words, len(delimiter))
            tokenizer_params["is_split_into_words"] = True
            text = words
        else:
            text = check_text(self.task, sentence, "an untokenized str")
        truncation = bool(self.tokenizer.model_max_length and self.tokenizer.model_max_length > 0)
        encoded = self.tokenizer([text], truncation=truncation, return_special_tokens_mask=True,
                                 return_offsets_mapping=True, **tokenizer_params)
        features = []
        for i in range(len(encoded["input_ids"])):
            feature = {key: encoded[key][i] for key in encoded if key != "overflow_to_sample_mapping"}
            if offset_mapping is not None:
                feature["offset_mapping"] = offset_mapping
            feature["sentence"] = sentence
            if word_to_chars is not None:
                feature["word_ids"] = encoded.word_ids(i)
                feature["word_to_chars"] = word_to_chars
            features.append(feature)
        return features

    # ---- postprocess --------------------------------------------------------------
    def postprocess(self, windows, aggregation_strategy="none", ignore_labels=None):
        ignore_labels = ["O"] if ignore_labels is None else ignore_labels
        entities = []
        for window in windows:
            scores = softmax(window["logits"].astype("float32"))
            pre_entities = self.gather_pre_entities(window, scores, aggregation_strategy)
            grouped = self.aggregate(pre_entities, aggregation_strategy)
            entities.extend(e for e in grouped
                            if e.get("entity") not in ignore_labels and e.get("entity_group") not in ignore_labels)
        if len(windows) > 1:
            entities = aggregate_overlapping_entities(entities)
        return [_to_python(e) for e in entities]

    def gather_pre_entities(self, window, scores, aggregation_strategy):
        """One dict per non-special token: word, scores, character span, whether it continues a word."""
        sentence, input_ids = window["sentence"], window["input_ids"]
        offsets, special = window.get("offset_mapping"), window["special_tokens_mask"]
        word_ids, word_to_chars = window.get("word_ids"), window.get("word_to_chars")
        has_prefix = bool(getattr(self.tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None))
        pre_entities = []
        for idx, token_scores in enumerate(scores):
            if special[idx]:
                continue
            word = self.tokenizer.convert_ids_to_tokens(int(input_ids[idx]))
            start = end = None
            is_subword = False
            if offsets is not None:
                start, end = (int(v) for v in offsets[idx])
                if word_ids is not None and word_ids[idx] is not None:
                    shift = word_to_chars[word_ids[idx]][0]
                    start, end = start + shift, end + shift
                word_ref = sentence[start:end]
                if has_prefix:
                    is_subword = len(word) != len(word_ref)
                else:
                    is_subword = start > 0 and " " not in sentence[start - 1: start + 1]
                if int(input_ids[idx]) == self.tokenizer.unk_token_id:
                    word, is_subword = word_ref, False
            pre_entities.append({"word": word, "scores": token_scores, "start": start, "end": end,
                                 "index": idx, "is_subword": is_subword})
        return pre_entities

    def aggregate(self, pre_entities, aggregation_strategy):
        if aggregation_strategy in ("none", "simple"):
            entities = []
            for pre in pre_entities:
                best = int(pre["scores"].argmax())
                entities.append({"entity": self._label(best), "score": pre["scores"][best], "index": pre["index"],
                                 "word": pre["word"], "start": pre["start"], "end": pre["end"]})
        else:
            entities = self.aggregate_words(pre_entities, aggregation_strategy)
        if aggregation_strategy == "none":
            return entities
        return self.group_entities(entities)

    def aggregate_word(self, entities, aggregation_strategy):
        """One entity for the tokens of one word (first / max / average of their scores)."""
        word = self.tokenizer.convert_tokens_to_string([e["word"] for e in entities])
        if aggregation_strategy == "first":
            scores = entities[0]["scores"]
        elif aggregation_strategy == "max":
            scores = max(entities, key=lambda e: e["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([e["scores"] for e in entities]), axis=0)
        best = int(scores.argmax())
        return {"entity": self._label(best), "score": scores[best], "word": word,
                "start": entities[0]["start"], "end": entities[-1]["end"]}

    def aggregate_words(self, entities, aggregation_strategy):
        """Forces the tokens of a word to agree (micro|soft -> microsoft)."""
        words, group = [], None
        for entity in entities:
            if group is None:
                group = [entity]
            elif entity["is_subword"]:
                group.append(entity)
            else:
                words.append(self.aggregate_word(group, aggregation_strategy))
                group = [entity]
        if group is not None:
            words.append(self.aggregate_word(group, aggregation_strategy))
        return words

    def group_sub_entities(self, entities):
        return {
            "entity_group": entities[0]["entity"].split("-", 1)[-1],
            "score": np.mean(np.nanmean([e["score"] for e in entities])),
            "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in entities]),
            "start": entities[0]["start"],
            "end": entities[-1]["end"],
        }

    def group_entities(self, entities):
        """Groups adjacent tokens with the same tag (B- starts a new group)."""
        groups, current = [], []
        for entity in entities:
            if current:
                bi, tag = get_tag(entity["entity"])
                _, last_tag = get_tag(current[-1]["entity"])
                if tag == last_tag and bi != "B":
                    current.append(entity)
                    continue
                groups.append(self.group_sub_entities(current))
            current = [entity]
        if current:
            groups.append(self.group_sub_entities(current))
        return groups

    def _label(self, index):
        id2label = self.model.config.id2label
        return id2label.get(index, f"LABEL_{index}")


def get_tag(entity_name):
    """("B" or "I", tag) of a label such as "B-PER"; a bare label counts as "I"."""
    if entity_name.startswith("B-"):
        return "B", entity_name[2:]
    if entity_name.startswith("I-"):
        return "I", entity_name[2:]
    return "I", entity_name


def aggregate_overlapping_entities(entities):
    """Keeps the longest (then best scored) of entities that overlap across windows."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda e: e["start"])
    kept, previous = [], entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            length, previous_length = entity["end"] - entity["start"], previous["end"] - previous["start"]
            if length > previous_length or length == previous_length and entity["score"] > previous["score"]:
                previous = entity
        else:
            kept.append(previous)
            previous = entity
    kept.append(previous)
    return kept


def _strategy(value):
    name = getattr(value, "value", value)
    if not isinstance(name, str) or name.lower() not in AGGREGATION_STRATEGIES:
        raise ValueError(f"aggregation_strategy={value!r} is not one of {AGGREGATION_STRATEGIES}.")
    return name.lower()


def _word_spans(words, delimiter_length):
    spans, offset = [], 0
    for word in words:
        spans.append((offset, offset + len(word)))
        offset += len(word) + delimiter_length
    return spans


def _to_python(entity):
    out = dict(entity)
    out["score"] = float(out["score"])
    return out
