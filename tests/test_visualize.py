"""keras_tfm.utils.visualize: pixels of the drawn boxes and masks, the figures' contents, errors, notebook display.

The drawing functions are pure (no model): the pipeline outputs are written by hand in the pipelines' format.
"""

import os
import sys

import keras
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from keras_tfm.pipelines.image_segmentation import mask_image
from keras_tfm.pipelines.object_detection import bounding_box
from keras_tfm.processing.audio_spectrogram import hertz_to_mel
from keras_tfm.training.callbacks import TrainerState
from keras_tfm.utils import visualize

GREY = (120, 120, 120)


def grey_image(width=100, height=80):
    return Image.new("RGB", (width, height), GREY)


# Pipeline outputs built with the pipelines' own helpers, so that they have the pipelines' format.
def detection(label, xmin, ymin, xmax, ymax, score=0.9):
    return {"score": score, "label": label, "box": bounding_box([xmin, ymin, xmax, ymax])}


def mask(size, rows, cols):
    pixels = np.zeros((size[1], size[0]), bool)
    pixels[rows, cols] = True
    return mask_image(pixels)


# ---- draw_boxes -----------------------------------------------------------------------------------

def test_draw_boxes_outlines_in_the_label_colour_and_leaves_the_rest():
    image = grey_image(160, 100)
    before = np.asarray(image).copy()
    boxes = [detection("cat", 10, 40, 40, 70), detection("dog", 100, 30, 140, 60), detection("cat", 60, 75, 75, 90)]
    drawn = visualize.draw_boxes(image, boxes, width=2, min_size=0)
    pixels = np.asarray(drawn)
    assert drawn.mode == "RGB" and drawn.size == image.size and drawn is not image
    np.testing.assert_array_equal(np.asarray(image), before)  # the input is untouched
    cat, dog = tuple(pixels[70, 25]), tuple(pixels[50, 140])  # edges away from the tags (on the top edges)
    assert cat in visualize.PALETTE and dog in visualize.PALETTE and cat != dog
    for y, x in [(60, 10), (60, 11), (55, 40), (55, 39), (90, 68), (85, 75)]:  # both widths, both cats
        assert tuple(pixels[y, x]) == cat
    assert tuple(pixels[50, 139]) == dog and tuple(pixels[60, 120]) == dog
    np.testing.assert_array_equal(pixels[44:68, 12:38], before[44:68, 12:38])  # inside the cat's box
    np.testing.assert_array_equal(pixels[:, 0:9], before[:, 0:9])  # left of everything
    assert (pixels[25:39, 10:40] != GREY).any()  # the "cat 0.90" tag above the box


def test_draw_boxes_colours_follow_labels_from_picture_to_picture():
    first = np.asarray(visualize.draw_boxes(grey_image(), [detection("cat", 10, 40, 40, 70)], min_size=0))
    second = np.asarray(visualize.draw_boxes(grey_image(), [detection("cat", 50, 40, 90, 70)], min_size=0))
    assert tuple(first[70, 20]) == tuple(second[70, 60])


def test_draw_boxes_takes_arrays_and_paths_and_enlarges_small_pictures(tmp_path):
    array = np.full((32, 32, 3), 100, np.uint8)
    path = str(tmp_path / "small.png")
    Image.fromarray(array).save(path)
    boxes = [detection("square", 4, 20, 12, 28, score=None)]
    from_array = visualize.draw_boxes(array, boxes)
    assert from_array.size == (256, 256)  # 8 x 32
    pixels = np.asarray(from_array)
    assert tuple(pixels[28 * 8, 8 * 8]) in visualize.PALETTE  # the box scaled with the picture
    assert tuple(pixels[24 * 8, 8 * 8]) == (100, 100, 100)
    np.testing.assert_array_equal(np.asarray(visualize.draw_boxes(path, boxes)), pixels)
    assert (array == 100).all()


def test_draw_boxes_errors_name_the_culprit():
    image = grey_image()
    with pytest.raises(ValueError, match=r"detections\[1\] has no 'box'"):
        visualize.draw_boxes(image, [detection("cat", 1, 1, 5, 5), {"score": 0.5, "label": "dog"}])
    with pytest.raises(TypeError, match="batch"):
        visualize.draw_boxes(image, [[detection("cat", 1, 1, 5, 5)]])
    with pytest.raises(ValueError, match=r"detections\[0\]\['box'\] has xmax < xmin"):
        visualize.draw_boxes(image, [detection("cat", 9, 1, 5, 5)])
    with pytest.raises(TypeError, match="detections must be a list"):
        visualize.draw_boxes(image, detection("cat", 1, 1, 5, 5))
    with pytest.raises(TypeError, match="image must be"):
        visualize.draw_boxes(3, [])
    with pytest.raises(ValueError, match="image as an array"):
        visualize.draw_boxes(np.zeros((8, 8, 3), np.float32), [])
    with pytest.raises(ValueError, match="width"):
        visualize.draw_boxes(image, [], width=0)


# ---- overlay_masks --------------------------------------------------------------------------------

def test_overlay_masks_blends_only_the_mask_pixels():
    image = grey_image()
    before = np.asarray(image).copy()
    segments = [{"score": 0.95, "label": "cat", "mask": mask(image.size, slice(10, 30), slice(20, 50))},
                {"score": None, "label": "cat", "mask": mask(image.size, slice(50, 70), slice(20, 50))}]
    result = visualize.overlay_masks(image, segments, alpha=0.25, legend=False, min_size=0)
    pixels = np.asarray(result).astype(int)
    assert result.size == image.size
    np.testing.assert_array_equal(np.asarray(image), before)
    first, second = pixels[20, 30], pixels[60, 30]
    assert (pixels[10:30, 20:50] == first).all() and (pixels[50:70, 20:50] == second).all()
    assert tuple(first) != tuple(second)  # two instances of one label: two colours
    colours = {tuple(np.rint(0.75 * np.array(GREY) + 0.25 * np.array(c)).astype(int)) for c in visualize.PALETTE}
    assert tuple(first) in colours and tuple(second) in colours
    outside = np.ones(pixels.shape[:2], bool)
    outside[10:30, 20:50] = outside[50:70, 20:50] = False
    np.testing.assert_array_equal(pixels[outside], before[outside])


def test_overlay_masks_legend_strip_below():
    image = grey_image()
    segments = [{"score": 0.95, "label": "cat", "mask": mask(image.size, slice(10, 30), slice(20, 50))},
                {"score": 0.5, "label": "dog", "mask": np.zeros((80, 100), bool)},
                {"score": 0.4, "label": "bird", "mask": np.eye(100, dtype=np.uint8)[:80]}]  # 0 / 1 as uint8
    result = visualize.overlay_masks(image, segments, min_size=0)
    assert result.width == image.width and result.height > image.height
    strip = np.asarray(result)[image.height:]
    assert (strip == 255).mean() > 0.5 and (strip != 255).any()  # white with swatches and text
    assert tuple(np.asarray(result)[image.height + 6, 6]) in visualize.PALETTE  # the first swatch
    assert (np.asarray(result)[50, 50] != GREY).all()  # the diagonal of ones is painted at full weight 0.5


def test_overlay_masks_errors_name_the_culprit():
    image = grey_image()
    with pytest.raises(ValueError, match=r"segments\[0\]\['mask'\] is 10x10 but the image is 100x80"):
        visualize.overlay_masks(image, [{"score": 1.0, "label": "a", "mask": mask((10, 10), slice(0, 2), slice(0, 2))}])
    with pytest.raises(ValueError, match=r"segments\[0\] has no 'mask'"):
        visualize.overlay_masks(image, [{"score": 1.0, "label": "a"}])
    with pytest.raises(TypeError, match=r"segments\[0\]\['mask'\]"):
        visualize.overlay_masks(image, [{"score": 1.0, "label": "a", "mask": "mask.png"}])
    with pytest.raises(ValueError, match="alpha"):
        visualize.overlay_masks(image, [], alpha=1.5)


# ---- figures --------------------------------------------------------------------------------------

def line_data(axes):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axes.get_lines()}


def test_plot_audio_waveform_over_a_log_mel_that_puts_tones_in_their_bands():
    rate = 16000
    t = np.arange(rate) / rate
    waveform = np.where(t < 0.5, 0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 3000 * t))
    figure = visualize.plot_audio(keras.ops.convert_to_tensor(waveform.astype("float32")), rate, title="tones")
    assert figure._suptitle.get_text() == "tones"
    wave, mel, colorbar = figure.axes
    xs, ys = wave.get_lines()[0].get_data()
    assert len(xs) == rate and xs[-1] == pytest.approx(1 - 1 / rate)
    np.testing.assert_allclose(ys, waveform, atol=1e-6)
    assert mel.get_xlim() == (0.0, 1.0) and mel.get_xlabel() == "time (s)" and colorbar.get_ylabel() == "dB"
    decibels = mel.get_images()[0].get_array()  # (64 mels, frames), low bands first
    assert decibels.shape[0] == 64 and decibels.max() - decibels.min() == pytest.approx(80.0)
    frames = decibels.shape[1]
    low, high = decibels[:, : frames // 3].mean(1).argmax(), decibels[:, -frames // 3:].mean(1).argmax()
    # Slaney mel bands evenly spaced up to 8 kHz: the band that holds each tone.
    top = hertz_to_mel(8000, "slaney")
    for band, hertz in ((low, 440), (high, 3000)):
        assert abs(band - (hertz_to_mel(hertz, "slaney") / top * 65 - 1)) <= 1.5


def test_plot_audio_short_and_bad_input():
    assert len(visualize.plot_audio(np.ones(10), 8000).axes) == 3  # shorter than one window
    with pytest.raises(ValueError, match="waveform must be one channel"):
        visualize.plot_audio(np.zeros((100, 2)), 16000)
    with pytest.raises(ValueError, match="waveform must hold finite samples"):
        visualize.plot_audio(np.zeros(0), 16000)
    with pytest.raises(ValueError, match="sampling_rate"):
        visualize.plot_audio(np.zeros(100), 0)


# Trainer.log's format: step logs, evaluations, and the end-of-training summary.
LOG_HISTORY = [
    {"loss": 0.9, "learning_rate": 1e-3, "epoch": 0.5, "step": 5},
    {"loss": 0.6, "learning_rate": 5e-4, "epoch": 1.0, "step": 10},
    {"eval_loss": 0.7, "eval_accuracy": 0.6, "eval_runtime": 0.2, "eval_samples_per_second": 80.0,
     "eval_steps_per_second": 5.0, "epoch": 1.0, "step": 10},
    {"loss": 0.3, "learning_rate": 1e-4, "epoch": 1.5, "step": 15},
    {"eval_loss": 0.4, "eval_accuracy": 0.9, "eval_runtime": 0.2, "epoch": 2.0, "step": 20},
    {"train_runtime": 3.0, "train_samples_per_second": 50.0, "train_steps_per_second": 6.0, "train_loss": 0.6,
     "epoch": 2.0, "step": 20},
]


def test_plot_training_trainer_log_history():
    for history in (LOG_HISTORY, TrainerState(log_history=LOG_HISTORY)):
        losses, metrics = visualize.plot_training(history).axes
        assert line_data(losses) == {"loss": ([5, 10, 15], [0.9, 0.6, 0.3]), "eval_loss": ([10, 20], [0.7, 0.4])}
        assert line_data(metrics) == {"eval_accuracy": ([10, 20], [0.6, 0.9])}
        assert losses.get_xlabel() == "step" and metrics.get_title() == "metrics"
    only = visualize.plot_training(LOG_HISTORY, metrics=["eval_accuracy", "learning_rate"])
    assert len(only.axes) == 1 and set(line_data(only.axes[0])) == {"eval_accuracy", "learning_rate"}
    one = visualize.plot_training(LOG_HISTORY, metrics=["loss"])
    assert len(one.axes) == 1 and one.axes[0].get_title() == "losses"


def test_plot_training_keras_history():
    # What model.fit returns: a History callback whose .history maps each metric to its per-epoch values.
    history = keras.callbacks.History()
    history.history = {"loss": [0.9, 0.5, 0.4], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.0, 0.6, 0.5],
                       "val_accuracy": [0.4, 0.7, 0.75]}
    for given in (history, history.history):
        losses, metrics = visualize.plot_training(given).axes
        lines = line_data(losses)
        assert set(lines) == {"loss", "val_loss"} and lines["loss"] == ([1, 2, 3], [0.9, 0.5, 0.4])
        assert set(line_data(metrics)) == {"accuracy", "val_accuracy"} and losses.get_xlabel() == "epoch"
    assert len(visualize.plot_training({"loss": [1.0, 0.5]}).axes) == 1


def test_plot_training_errors():
    with pytest.raises(ValueError, match="nothing to plot"):
        visualize.plot_training([{"train_runtime": 1.0, "train_loss": 0.5, "step": 3}])
    with pytest.raises(ValueError, match="nothing to plot"):
        visualize.plot_training({"loss": []})
    with pytest.raises(ValueError, match=r"metrics \['accuracy'\] are not in the history"):
        visualize.plot_training(LOG_HISTORY, metrics=["accuracy"])
    with pytest.raises(TypeError, match="history must be"):
        visualize.plot_training("history.json")
    with pytest.raises(TypeError, match=r"history\[1\]"):
        visualize.plot_training([{"loss": 1.0, "step": 1}, 0.5])


def test_plot_attention_labels_both_axes_with_the_tokens():
    tokens = ["[CLS]", "the", "cat", "sat", "[SEP]"]
    weights = np.random.RandomState(0).rand(5, 5)
    weights /= weights.sum(-1, keepdims=True)
    figure = visualize.plot_attention(tokens, keras.ops.convert_to_tensor(weights), title="layer 6")
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == tokens
    assert [t.get_text() for t in axes.get_yticklabels()] == tokens
    np.testing.assert_allclose(axes.get_images()[0].get_array(), weights, rtol=1e-6)
    assert axes.get_title() == "layer 6" and len(figure.axes) == 2  # the heat map and its colour bar
    with pytest.raises(ValueError, match=r"attention has shape \(4, 4\) but there are 5 tokens"):
        visualize.plot_attention(tokens, weights[:4, :4])
    with pytest.raises(ValueError, match="one \\(query x key\\) matrix"):
        visualize.plot_attention(tokens, np.stack([weights, weights]))
    with pytest.raises(TypeError, match="tokens must be a list of strings"):
        visualize.plot_attention([1, 2, 3, 4, 5], weights)


def test_plot_bars_heights_and_values_written():
    figure = visualize.plot_bars({"torch": 1.2, "tensorflow": 1.5, "jax": np.float32(0.9)}, title="speed", unit="s")
    axes = figure.axes[0]
    assert [bar.get_height() for bar in axes.patches] == pytest.approx([1.2, 1.5, 0.9])
    assert [t.get_text() for t in axes.get_xticklabels()] == ["torch", "tensorflow", "jax"]
    assert [t.get_text() for t in axes.texts] == ["1.2 s", "1.5 s", "0.9 s"]
    assert axes.get_title() == "speed" and axes.get_ylabel() == "s"
    with pytest.raises(ValueError, match="values is empty"):
        visualize.plot_bars({})
    with pytest.raises(TypeError, match=r"values\['jax'\] must be a finite number"):
        visualize.plot_bars({"torch": 1.0, "jax": "fast"})
    with pytest.raises(TypeError, match="values must be a dict"):
        visualize.plot_bars([1.0, 2.0])



def test_plot_bars_writes_large_values_without_an_exponent():
    figure = visualize.plot_bars({"torch": 2944.0, "jax": 0.0123}, unit="ms")
    written = [text.get_text() for text in figure.axes[0].texts]
    assert written == ["2944 ms", "0.0123 ms"]

def test_figures_save_as_png_and_say_how_to_get_matplotlib(tmp_path, monkeypatch):
    figure = visualize.plot_bars({"a": 1.0})
    assert figure._repr_png_().startswith(b"\x89PNG")
    figure.savefig(tmp_path / "bars.png")
    assert Image.open(tmp_path / "bars.png").size[0] > 100
    monkeypatch.setattr(visualize, "_FIGURE_CLASS", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    with pytest.raises(ImportError, match=r'pip install "keras-tfm\[viz\]"'):
        visualize.plot_bars({"a": 1.0})


def test_a_figure_as_a_cells_last_expression_displays_as_png():
    # The kernel loads visualize.py by its path: importing the keras_tfm package (all three backends' imports)
    # would cost the kernel ~20 s here, and plot_bars needs nothing else from it.
    source = ("import importlib.util\n"
              f"spec = importlib.util.spec_from_file_location('visualize', {visualize.__file__!r})\n"
              "visualize = importlib.util.module_from_spec(spec)\n"
              "spec.loader.exec_module(visualize)\n"
              "visualize.plot_bars({'torch': 1.0, 'jax': 2.0})")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": os.getcwd()}}).execute()
    (output,) = notebook.cells[0].outputs
    assert output["output_type"] == "execute_result" and "image/png" in output["data"]
