"""keras_tfm.data.text_tasks: the made-up text tasks of the quick tour's text pipelines (no Keras model here)."""

import pytest

from keras_tfm.data import text_tasks


def test_counts_split_and_are_counts():
    train, test = text_tasks.counts(length=5, held_out=0.2, seed=0)
    assert len(train) + len(test) == 72 and len(test) == 14  # (16 + 12 + 8 starts) x up / down
    assert not set(train) & set(test)
    for text in train + test:
        positions = [text_tasks.NUMBERS.index(word) for word in text.split()]
        steps = {b - a for a, b in zip(positions, positions[1:])}
        assert len(positions) == 5 and len(steps) == 1 and abs(steps.pop()) in (1, 2, 3)
    assert text_tasks.counts(seed=0) == (train, test) and text_tasks.counts(seed=1) != (train, test)
    with pytest.raises(ValueError, match="length=1"):
        text_tasks.counts(length=1)


def test_trip_summaries():
    stories, summaries = text_tasks.trip_summaries(50, seed=3)
    assert (stories, summaries) == text_tasks.trip_summaries(50, seed=3)
    for story, summary in zip(stories, summaries):
        name, _, city, _, first, _, last = summary.split()
        assert f"{name} went to {city} on {first} ." in story and f"{name} came back on {last} ." in story
        assert text_tasks.DAYS.index(first) < text_tasks.DAYS.index(last)
        assert len(story.split(" . ")) == 3


def test_colour_translations_agree_in_number():
    english, french = text_tasks.colour_translations(200, seed=0)
    pairs = dict(zip(english, french))
    assert pairs.get("one red cat", "un chat rouge") == "un chat rouge"
    for en, fr in pairs.items():
        assert en.count(" and ") == fr.count(" et ") <= 1
        for en_part, fr_part in zip(en.split(" and "), fr.split(" et ")):
            number, colour, thing = en_part.split()
            assert fr_part.split()[0] == text_tasks.FRENCH_NUMBERS[number]
            plural = number != "one"
            singular = {forms[0]: word for word, forms in text_tasks.THINGS.items()}.get(thing, thing)
            assert fr_part.split()[1:] == [text_tasks.THINGS[singular][1 + plural],
                                           text_tasks.FRENCH_COLOURS[colour][plural]]
    assert "two white hats" not in pairs or pairs["two white hats"] == "deux chapeaux blancs"


def test_word_tokenizer_round_trip():
    tokenizer = text_tasks.word_tokenizer(["deux chats rouges", "un chat rouge"])
    ids = tokenizer("un chats rouges")["input_ids"]
    assert len(ids) == 4 and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "un chats rouges"
    assert tokenizer("un zèbre")["input_ids"][1] == tokenizer.unk_token_id
    batch = tokenizer(["un", "deux chats"], padding=True)
    assert batch["input_ids"][0][-1] == tokenizer.pad_token_id == 0
    no_eos = text_tasks.word_tokenizer(["one two three"], eos=False)
    assert no_eos.decode(no_eos("three one")["input_ids"]) == "three one" and len(no_eos("three one")["input_ids"]) == 2


def test_colour_translations_one_thing_and_exclude():
    held_out = text_tasks.colour_translations(10, seed=1, max_things=1)[0]
    english, french = text_tasks.colour_translations(300, seed=0, max_things=1, exclude=held_out)
    assert len(english) == 300 and not set(english) & set(held_out)
    assert all(" and " not in text and " et " not in fr for text, fr in zip(english, french))
