"""README.md's snippets, run as doctests on the suite's KERAS_BACKEND.

The rules:
- Every ```python block runs, in README order, in ONE namespace shared by the whole README (a later
  section may use what an earlier one made, e.g. `model`), in a temporary working folder (the
  snippets write ./my_model, ./out...). Each block is one test; a block that raises fails.
- The hub ids the snippets name resolve offline to tiny stand-ins (tests/readme_hub.py) in a
  temporary huggingface_hub cache: the snippets run as a user types them; their outputs mean nothing.
- The shipped sentiment data is cut to 32 + 16 sentences (`load_sentiment`): the training snippets then
  run in seconds on every backend (JAX compiles a step per padded length; 300 sentences made ~20).
- What the README leaves to the reader is provided before the first block: the files it names
  (cat.jpg, street.jpg, invoice.png, speech.flac, ...) in the working folder, and the variables
  `article`, `image`, `pil_image`, `image_a`, `image_b`, `array_at_16k`, `clip_a`, `clip_b`,
  `train`, `test` (see `reader_inputs`).
- A block whose first line is `# doctest: skip (REASON)` is not run; the skipped blocks are counted
  and printed (test_skipped_blocks_are_few).
- ```bash blocks are not run, but each `keras-tfm ...` line in them must parse with the CLI's parser.
"""

import os
import re
import shlex

import huggingface_hub
import numpy as np
import pytest
from PIL import Image

from keras_tfm.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
SKIP = re.compile(r"^# doctest: skip \((.+)\)\s*$")
MAX_SKIPPED = 2


def blocks(language):
    """``[(line number, section, code)]`` of README's ```language blocks."""
    found, section, code, start = [], "", None, 0
    with open(README, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if code is None and line.startswith("## "):
                section = line[3:].strip()
            elif code is None and line.strip() == f"```{language}":
                code, start = [], number
            elif code is not None and line.strip() == "```":
                found.append((start, section, "".join(code)))
                code = None
            elif code is not None:
                code.append(line)
    return found


PYTHON = blocks("python")


def reader_inputs(folder):
    """The files and variables README's snippets leave to the reader."""
    import soundfile

    rng = np.random.default_rng(0)
    photo = Image.open(os.path.join(ROOT, "tests", "fixtures", "multimodal", "images", "photo.png")).convert("RGB")
    photo.save(os.path.join(folder, "cat.jpg"))
    photo.resize((64, 48)).save(os.path.join(folder, "street.jpg"))
    Image.fromarray(rng.integers(200, 256, (64, 48, 3), dtype=np.uint8)).save(os.path.join(folder, "invoice.png"))
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype("float32")
    for name, seconds in (("speech.flac", 1), ("long.wav", 3), ("one_minute.wav", 2), ("yes.wav", 1)):
        soundfile.write(os.path.join(folder, name), np.tile(tone, seconds), 16000)
    from keras_tfm import AutoTokenizer
    from keras_tfm.data import load_sentiment

    t5 = AutoTokenizer.from_pretrained("google-t5/t5-small")
    pairs = load_sentiment()["train"].select(range(8)).map(
        lambda b: t5(["summarize: " + t for t in b["text"]], text_target=b["text"], truncation=True, max_length=16),
        batched=True, remove_columns=["text", "label"])
    return {
        "article": "The tower is 324 metres tall, about the same height as an 81-storey building. " * 4,
        "image": photo, "pil_image": photo, "image_a": photo, "image_b": photo.resize((64, 48)),
        "array_at_16k": tone, "clip_a": np.tile(tone, 2)[:44100], "clip_b": np.tile(tone, 3)[:30000],
        "train": pairs, "test": pairs.select(range(4)),
    }


@pytest.fixture(scope="module")
def namespace(tmp_path_factory):
    """One namespace for the whole README, in a working folder, with the stand-in hub cache."""
    from tests.readme_hub import build_readme_cache

    cache = build_readme_cache(str(tmp_path_factory.mktemp("readme_hub")))
    work = str(tmp_path_factory.mktemp("readme_work"))
    cwd = os.getcwd()
    import keras_tfm.data

    full_load_sentiment = keras_tfm.data.load_sentiment

    def fewer_sentences(as_dict=False):
        splits = full_load_sentiment(as_dict=as_dict)
        sizes = {"train": 32, "test": 16}
        if as_dict:
            return {name: {key: values[:sizes[name]] for key, values in split.items()} for name, split in splits.items()}
        return type(splits)({name: split.select(range(sizes[name])) for name, split in splits.items()})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras_tfm.data, "load_sentiment", fewer_sentences)
        patch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", cache)
        patch.setenv("HF_HUB_CACHE", cache)
        os.chdir(work)
        try:
            yield {"__name__": "__readme__", **reader_inputs(work)}
        finally:
            os.chdir(cwd)


@pytest.mark.parametrize("line, section, code", PYTHON, ids=[f"line{line}" for line, _, _ in PYTHON])
def test_python_block_runs(line, section, code, namespace):
    skip = SKIP.match(code.splitlines()[0]) if code.strip() else None
    if skip:
        pytest.skip(f"README line {line} ({section}): {skip.group(1)}")
    exec(compile(code, f"README.md:{line} ({section})", "exec"), namespace)  # noqa: S102


def test_skipped_blocks_are_few():
    skipped = [(line, section, SKIP.match(code.splitlines()[0]).group(1)) for line, section, code in PYTHON
               if code.strip() and SKIP.match(code.splitlines()[0])]
    print(f"README: {len(PYTHON)} python blocks, {len(skipped)} skipped:",
          *(f"  line {line} ({section}): {reason}" for line, section, reason in skipped), sep="\n")
    assert len(skipped) <= MAX_SKIPPED, skipped


def test_cli_lines_in_bash_blocks_parse():
    from keras_tfm.cli import _split_passthrough

    parser = build_parser()
    commands = [words for _, _, code in blocks("bash") for line in code.splitlines()
                for words in [shlex.split(line, comments=True)] if "keras-tfm" in words]
    assert len(commands) >= 8, commands  # convert's, and the Command line section's
    for words in commands:
        argv = words[words.index("keras-tfm") + 1:]
        argv = argv[:argv.index("|")] if "|" in argv else argv
        try:
            parser.parse_args(_split_passthrough(argv)[0])
        except SystemExit as e:
            pytest.fail(f"README's `{' '.join(words)}` does not parse (exit {e.code})")
