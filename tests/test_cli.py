"""The ``keras-tfm`` command line: every command in-process through ``main([...])``, exit codes, stderr,
stdin, ``--json``; ``run`` on tiny real models (a BERT sentiment classifier with MiniLM's tokenizer, a ViT on
a PNG file); a subprocess of ``python -m keras_tfm.cli`` for the entry point, and one for ``--backend``."""

import io
import json
import os
import shutil
import subprocess
import sys

import huggingface_hub
import keras
import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from keras_tfm.cli import main
from keras_tfm.pipelines import pipeline
from tests.conftest import minilm_dir
from tests.hub_cache import put_in_hub_cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = ["We are very happy to show you the Transformers library.", "We hope you don't hate it."]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny BERT sentiment classifier (MiniLM's tokenizer), a tiny ViT classifier and a PNG for it."""
    base = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    bert = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=37, initializer_range=0.2,
                                   id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    transformers.BertForSequenceClassification(bert).eval().save_pretrained(base / "seq")
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(minilm_dir(), name), base / "seq")
    vit = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32, initializer_range=0.5,
                                 id2label={i: f"class_{i}" for i in range(5)},
                                 label2id={f"class_{i}": i for i in range(5)})
    transformers.ViTForImageClassification(vit).eval().save_pretrained(base / "vit")
    transformers.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(base / "vit")
    image = base / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)).save(image)
    return {"seq": str(base / "seq"), "vit": str(base / "vit"), "image": str(image)}


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def approx(ours, theirs):
    """Pipeline outputs equal up to float rounding (labels exactly)."""
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs)
        for key in theirs:
            approx(ours[key], theirs[key])
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            approx(a, b)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, abs=1e-6)
    else:
        assert ours == theirs


# ---------------------------------------------------------------------- usage


@pytest.mark.parametrize("command", [[], ["env"], ["run"], ["convert"], ["bench"], ["download"]])
def test_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command + ["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: keras-tfm " + " ".join(command))


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["nope"], "invalid choice: 'nope'"),
    (["run", "sentiment-analysis"], "the following arguments are required: INPUT"),
    (["run", "sentiment-analysis", "x", "--backend", "numpy"], "invalid choice: 'numpy'"),
    (["run", "sentiment-analysis", "x", "--batch-size", "two"], "invalid int value: 'two'"),
    (["env", "--", "--tiny"], "arguments after '--' are only for `bench`"),
])
def test_bad_arguments_exit_2_with_usage_on_stderr(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err and "usage: keras-tfm" in captured.err


# ---------------------------------------------------------------------- env


def test_env_prints_versions_backend_and_devices(capsys):
    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["Keras version"] == keras.__version__
    assert info["PyTorch version"] == torch.__version__
    assert info["Keras backend"].split()[0] == keras.backend.backend()
    assert "cpu" in info["Devices"]
    assert info["HF_HUB_OFFLINE"] == "True" and info["Hub cache"] == huggingface_hub.constants.HF_HUB_CACHE
    assert main(["env"]) == 0
    text = capsys.readouterr().out
    assert f"- Keras version: {keras.__version__}\n" in text and "- JAX version: " in text


# ---------------------------------------------------------------------- run


def test_run_text_classification_json_and_text(folders, capsys):
    expected = pipeline("sentiment-analysis", model=folders["seq"])(TEXTS)
    assert main(["run", "sentiment-analysis", *TEXTS, "--model", folders["seq"], "--json"]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert [line["input"] for line in lines] == TEXTS
    approx([line["output"] for line in lines], expected)

    assert main(["run", "sentiment-analysis", TEXTS[0], "--model", folders["seq"]]) == 0
    text, summary = capsys.readouterr().out.rstrip("\n").split("\t")
    assert text == TEXTS[0] and summary == f"{expected[0]['label']} ({expected[0]['score']:.4f})"


def test_run_reads_stdin_lines_and_passes_call_arguments(folders, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{TEXTS[0]}\n\n{TEXTS[1]}\n"))
    assert main(["run", "text-classification", "first", "-", "--model", folders["seq"], "--json",
                 "--batch-size", "2", "--arg", "top_k=2", "--arg", "function_to_apply=none"]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert [line["input"] for line in lines] == ["first", *TEXTS]  # the empty line is skipped
    expected = pipeline("text-classification", model=folders["seq"])(["first", *TEXTS], top_k=2,
                                                                      function_to_apply="none")
    approx([line["output"] for line in lines], expected)
    assert all(len(line["output"]) == 2 for line in lines)


def test_run_image_classification_on_a_file_path(folders, capsys):
    expected = pipeline("image-classification", model=folders["vit"])(folders["image"], top_k=3)
    assert main(["run", "image-classification", folders["image"], "--model", folders["vit"], "--json",
                 "--arg", "top_k=3"]) == 0
    (line,) = json_lines(capsys.readouterr().out)
    assert line["input"] == folders["image"]
    approx(line["output"], expected)


@pytest.mark.parametrize("argv, message", [
    (["run", "sentimnt-analysis", "x"], "unknown task 'sentimnt-analysis'. Did you mean 'sentiment-analysis'"),
    (["run", "zero-shot-classification", "x"], "the 'zero-shot-classification' pipeline is not implemented"),
    (["run", "sentiment-analysis", "x", "--arg", "top_k"], "--arg takes KEY=VALUE"),
    (["run", "sentiment-analysis", "x", "--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_run_bad_usage_exits_2(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("keras-tfm run: error: ") and message in captured.err


def test_run_empty_stdin_exits_2(folders, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["run", "sentiment-analysis", "-", "--model", folders["seq"]]) == 2
    assert "no input: stdin ('-') was empty" in capsys.readouterr().err


def test_run_failures_exit_1_without_traceback(folders, tmp_path, capsys, monkeypatch):
    # the task's default model, offline and not cached
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    assert main(["run", "sentiment-analysis", "x"]) == 1
    err = capsys.readouterr().err
    assert "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in err and "HF_HUB_OFFLINE is set" in err
    assert "Traceback" not in err
    # a missing image file names the file
    missing = str(tmp_path / "missing.png")
    assert main(["run", "image-classification", missing, "--model", folders["vit"]]) == 1
    assert missing in capsys.readouterr().err
    with pytest.raises(Exception, match="missing.png"):
        main(["--debug", "run", "image-classification", missing, "--model", folders["vit"]])


def test_run_backend_flag_runs_in_a_process_of_that_backend(folders, capsys, monkeypatch):
    other = {"torch": "jax", "tensorflow": "torch", "jax": "torch"}[keras.backend.backend()]
    monkeypatch.setattr(sys, "stdin", io.StringIO(TEXTS[1] + "\n"))
    assert main(["run", "sentiment-analysis", TEXTS[0], "-", "--model", folders["seq"], "--json",
                 "--backend", other]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert [line["input"] for line in lines] == TEXTS
    approx([line["output"] for line in lines], pipeline("sentiment-analysis", model=folders["seq"])(TEXTS))


def test_entry_point_exit_code_and_stderr():
    """The installed ``keras-tfm`` script (``python -m keras_tfm.cli`` where it is not installed; the --backend
    test runs that): usage errors exit 2, on stderr."""
    script = shutil.which("keras-tfm", path=os.path.dirname(sys.executable))
    command = [script] if script else [sys.executable, "-m", "keras_tfm.cli"]
    proc = subprocess.run([*command, "run", "sentimnt-analysis", "x"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "keras-tfm run: error: unknown task 'sentimnt-analysis'" in proc.stderr


# ---------------------------------------------------------------------- download


def test_download_from_the_cache_offline(folders, tmp_path, capsys):
    snapshot = put_in_hub_cache(str(tmp_path), "org/tiny", folders["seq"])
    assert main(["download", "org/tiny", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == snapshot


@pytest.mark.parametrize("model_id, code, message", [
    ("org/not-cached", 1, "cannot download 'org/not-cached': HF_HUB_OFFLINE is set, and it is not in the cache"),
    ("a/b/c", 2, "'a/b/c' is not a hub model id"),
    ("bad id!", 2, "'bad id!' is not a hub model id"),
])
def test_download_errors(model_id, code, message, tmp_path, capsys):
    assert main(["download", model_id, "--cache-dir", str(tmp_path)]) == code
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err and "Traceback" not in captured.err


# ---------------------------------------------------------------------- bench


def test_bench_lists_shows_and_passes_arguments_through(capfd):
    assert main(["bench"]) == 0
    listing = capfd.readouterr().out
    for name in ("encoder", "generate", "train", "convert", "ab"):
        assert f"\n  {name} " in listing
    assert main(["bench", "encoder", "--show"]) == 0
    shown = capfd.readouterr().out
    with open(os.path.join(ROOT, "benchmarks", "results", "encoder.md"), encoding="utf-8") as f:
        figures = f.read().split("<!-- Hand-written notes below")[0].rstrip()
    assert shown == figures + "\n" and "| keras_tfm | torch | compiled |" in shown
    # the driver runs with what follows "--": its own --help (a real run takes minutes)
    assert main(["bench", "encoder", "--", "--help"]) == 0
    assert "usage: bench_encoder.py" in capfd.readouterr().out


def test_bench_errors(tmp_path, capsys):
    assert main(["bench", "nope"]) == 2
    assert "no benchmark 'nope'" in capsys.readouterr().err
    assert main(["bench", "encoder", "--repo", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"no benchmarks/ folder with the benchmark drivers at {tmp_path}" in err and "--repo" in err
