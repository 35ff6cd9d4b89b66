"""Small text tasks made on demand, for training tiny generators that need no download.

``counts(length=5, held_out=0.2, seed=0)``: counting in words ("two four six eight ten"), up or
down by one, two or three, between one and twenty; every such count of ``length`` words, split into
``(train, test)`` by start, step and direction (the test counts are never trained on, though their
word pairs appear inside other counts).

``trip_summaries(n, seed=0)``: ``(documents, summaries)``, a three-sentence story of a trip
("ben went to rome on monday . it rained . ben came back on friday .") and its summary
("ben : rome , monday to friday"), the weather sentence in a random place.

``colour_translations(n, seed=0, max_things=2)``: ``(english, french)``, one to ``max_things``
counted, coloured things translated word by word with French's order and plurals ("two red cats and
one blue hat" -> "deux chats rouges et un chapeau bleu"); ``exclude``: English phrases never given.

``word_tokenizer(texts, eos=True)``: a word-level ``PreTrainedTokenizerFast`` trained on ``texts``
(``tokenizers``' ``WordLevelTrainer``): one token per whitespace-separated word, ``</s>`` appended
when ``eos`` (as T5's tokenizer does; a GPT-2-style prompt takes none), decoded with spaces.
"""

import numpy as np

NUMBERS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
           "seventeen eighteen nineteen twenty").split()
NAMES = ("anna", "ben", "carla", "david", "emma", "felix")
CITIES = ("paris", "rome", "berlin", "london", "madrid", "vienna")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEATHER = ("it rained .", "it was sunny .", "it was cold .", "the food was good .")
# English -> French: numbers, colours (singular, plural), things (singular, plural; all masculine in French)
FRENCH_NUMBERS = {"one": "un", "two": "deux", "three": "trois", "four": "quatre", "five": "cinq"}
FRENCH_COLOURS = {"red": ("rouge", "rouges"), "blue": ("bleu", "bleus"), "green": ("vert", "verts"),
                  "black": ("noir", "noirs"), "white": ("blanc", "blancs")}
THINGS = {"cat": ("cats", "chat", "chats"), "dog": ("dogs", "chien", "chiens"), "book": ("books", "livre", "livres"),
          "ball": ("balls", "ballon", "ballons"), "hat": ("hats", "chapeau", "chapeaux")}
SPECIAL_TOKENS = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}


def counts(length=5, held_out=0.2, seed=0):
    """Every count of ``length`` number words (module docstring), shuffled and split: ``(train, test)``."""
    if not 2 <= length <= len(NUMBERS):
        raise ValueError(f"counts: length={length} must be between 2 and {len(NUMBERS)}.")
    texts = []
    for step in (1, 2, 3):
        for start in range(len(NUMBERS) - step * (length - 1)):
            words = NUMBERS[start:start + step * (length - 1) + 1:step]
            texts += [" ".join(words), " ".join(words[::-1])]
    order = np.random.RandomState(seed).permutation(len(texts))
    cut = int(round(len(texts) * held_out))
    return [texts[i] for i in order[cut:]], [texts[i] for i in order[:cut]]


def trip_summaries(n, seed=0):
    """``n`` trip stories and their summaries (module docstring), seeded by ``seed``."""
    rng = np.random.RandomState(seed)
    documents, summaries = [], []
    for _ in range(n):
        name, city, weather = NAMES[rng.randint(len(NAMES))], CITIES[rng.randint(len(CITIES))], WEATHER[rng.randint(len(WEATHER))]
        first, last = sorted(rng.choice(len(DAYS), 2, replace=False))
        sentences = [f"{name} went to {city} on {DAYS[first]} .", f"{name} came back on {DAYS[last]} ."]
        sentences.insert(rng.randint(3), weather)
        documents.append(" ".join(sentences))
        summaries.append(f"{name} : {city} , {DAYS[first]} to {DAYS[last]}")
    return documents, summaries


def colour_translations(n, seed=0, max_things=2, exclude=()):
    """``n`` English phrases and their French translations (module docstring), seeded by ``seed``."""
    rng = np.random.RandomState(seed)
    numbers, colours, things = list(FRENCH_NUMBERS), list(FRENCH_COLOURS), list(THINGS)
    exclude = set(exclude)
    english, french = [], []
    while len(english) < n:
        en, fr = [], []
        for _ in range(rng.randint(1, max_things + 1)):
            number, colour, thing = numbers[rng.randint(5)], colours[rng.randint(5)], things[rng.randint(5)]
            plural = number != "one"
            en.append(f"{number} {colour} {THINGS[thing][0] if plural else thing}")
            fr.append(f"{FRENCH_NUMBERS[number]} {THINGS[thing][1 + plural]} {FRENCH_COLOURS[colour][plural]}")
        if " and ".join(en) not in exclude:
            english.append(" and ".join(en))
            french.append(" et ".join(fr))
    return english, french


def word_tokenizer(texts, eos=True):
    """A word-level ``PreTrainedTokenizerFast`` trained on ``texts`` (module docstring)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    from keras_tfm.processing.tokenization_fast import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk_token"]))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS.values())))
    if eos:
        token = SPECIAL_TOKENS["eos_token"]
        words.post_processor = processors.TemplateProcessing(single=f"$A {token}",
                                                             special_tokens=[(token, words.token_to_id(token))])
    return PreTrainedTokenizerFast(tokenizer_object=words, **SPECIAL_TOKENS)
