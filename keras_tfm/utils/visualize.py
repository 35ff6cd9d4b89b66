"""Pictures of what the pipelines, models and trainers return, for notebooks and users.

Two functions draw on images with Pillow only and return a new RGB ``PIL.Image``:

- ``draw_boxes(image, detections)``: an object-detection pipeline's boxes, label and score above each.
- ``overlay_masks(image, segments)``: an image-segmentation pipeline's masks blended in, with a legend.

Four make a ``matplotlib.figure.Figure`` (matplotlib is optional: ``pip install "keras-tfm[viz]"``):

- ``plot_audio(waveform, sampling_rate)``: the waveform over a log-mel spectrogram.
- ``plot_training(history)``: loss and metric curves of ``Trainer`` (``trainer.state.log_history``) or Keras ``fit``.
- ``plot_attention(tokens, attention)``: one attention matrix as a heat map labelled by tokens.
- ``plot_bars(values)``: ``{"torch": 1.2, ...}`` as labelled bars.

The figures are built without ``pyplot``: no global state, no window, safe in threads. In a notebook the
last expression of a cell displays them as PNG (they carry ``_repr_png_``); ``fig.savefig(path)`` writes them.
"""

import io
import math
import numbers
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

INSTALL_HINT = 'pip install "keras-tfm[viz]"'

# Saturated colours that stay apart from one another and stand out on photos and on the tour's grey noise
# (Sasha Trubetskoy's "distinct colours", the first ten).
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 0, 128))

# Trainer log entries that are bookkeeping, not curves worth drawing unless asked for by name.
_NOT_CURVES = ("epoch", "step", "learning_rate", "grad_norm", "total_flos")
_NOT_CURVE_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")


# ---- images (Pillow) ------------------------------------------------------------------------------

def draw_boxes(image, detections, *, width=2, min_size=256):
    """An object-detection pipeline's output drawn on a copy of ``image``.

    Args:
        image: a PIL image, a numpy HWC uint8 array, or a path (what the pipelines accept).
        detections: a list of ``{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}`` in pixels,
            as ``pipeline("object-detection")(image)`` returns it.
        width: the outline's width in pixels.
        min_size: pictures whose longer side is smaller are enlarged by a whole factor (nearest
            neighbour, the boxes with them) so that labels stay readable; 0 keeps the size.

    Returns:
        A new RGB PIL image; ``image`` is not modified. Each box is outlined in its label's colour (the
        same label, the same colour) with "label score" written in a filled tag above it.
    """
    from PIL import ImageDraw

    picture = _load_rgb(image)
    boxes = [_check_detection(detection, i) for i, detection in enumerate(_check_list(detections, "detections"))]
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
        raise ValueError(f"width must be a positive whole number of pixels, got {width!r}.")
    factor = _enlarge_factor(picture, min_size)
    picture = _enlarge(picture, factor)
    colours = _assign_colours([label for label, _, _ in boxes])
    draw = ImageDraw.Draw(picture)
    font = _font(picture)
    for label, score, (xmin, ymin, xmax, ymax) in boxes:
        colour = colours[label]
        corners = [round(xmin * factor), round(ymin * factor), round(xmax * factor), round(ymax * factor)]
        draw.rectangle(corners, outline=colour, width=width)
        tag = label if score is None else f"{label} {score:.2f}"
        if tag:
            _draw_tag(draw, font, tag, corners[0], corners[1], colour)
    return picture


def overlay_masks(image, segments, *, alpha=0.5, legend=True, min_size=256):
    """An image-segmentation pipeline's masks blended onto a copy of ``image``.

    Args:
        image: a PIL image, a numpy HWC uint8 array, or a path.
        segments: a list of ``{"score", "label", "mask"}``, the mask an "L" PIL image (0 / 255) of the
            image's size, as ``pipeline("image-segmentation")(image)`` returns it (a 2-D array works too).
        alpha: the colour's weight where a mask is full (0 leaves the image, 1 paints the mask solid).
        legend: append a strip below the picture naming each segment's colour, label and score.
        min_size: pictures whose longer side is smaller are enlarged by a whole factor (nearest
            neighbour) so that the legend stays readable; 0 keeps the size.

    Returns:
        A new RGB PIL image: each segment's pixels blended with its own colour (the first segment of a
        label takes that label's colour, as in ``draw_boxes``); pixels outside every mask are unchanged.
    """
    from PIL import Image, ImageDraw

    picture = _load_rgb(image)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number between 0 and 1, got {alpha!r}.")
    entries = [_check_segment(segment, i, picture.size) for i, segment in enumerate(_check_list(segments, "segments"))]
    # One colour per segment: a label's first segment keys on the label, later ones (instances) on "label#k".
    seen, keys = {}, []
    for label, _, _ in entries:
        keys.append(label if label not in seen else f"{label}#{seen[label]}")
        seen[label] = seen.get(label, 0) + 1
    colours = _assign_colours(keys)
    pixels = np.asarray(picture, dtype=np.float32)
    for key, (_, _, mask) in zip(keys, entries):
        weight = alpha * mask[..., None]  # masks are 0..1: a soft mask blends by its value
        pixels = pixels * (1.0 - weight) + np.asarray(colours[key], np.float32) * weight
    blended = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    blended = _enlarge(blended, _enlarge_factor(blended, min_size))
    if not legend or not entries:
        return blended
    font = _font(blended)
    tags = [label if score is None else f"{label} {score:.2f}" for label, score, _ in entries]
    line = _text_size(font, "Ag")[1] + 6
    strip = Image.new("RGB", (blended.width, line * len(tags) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for row, (key, tag) in enumerate(zip(keys, tags)):
        top = 2 + row * line
        draw.rectangle([4, top + 2, 4 + line - 6, top + line - 4], fill=colours[key])
        draw.text((line + 2, top + 2), tag, fill=(0, 0, 0), font=font)
    result = Image.new("RGB", (blended.width, blended.height + strip.height))
    result.paste(blended, (0, 0))
    result.paste(strip, (0, blended.height))
    return result


def _load_rgb(image):
    """A new RGB PIL image from a PIL image, a numpy HWC uint8 array or a path; never the caller's object."""
    from PIL import Image

    from keras_tfm.processing.image_utils import load_image

    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = image[..., None]
        if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or image.dtype != np.uint8:
            raise ValueError(f"image as an array must be HWC uint8 with 1, 3 or 4 channels; got shape {image.shape} "
                             f"and dtype {image.dtype}.")
        image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    elif not isinstance(image, (str, Image.Image)):
        raise TypeError(f"image must be a PIL image, a numpy HWC uint8 array or a path; got {type(image).__name__}.")
    picture = load_image(image)
    return picture.copy() if picture is image else picture


def _check_list(value, name):
    if isinstance(value, Mapping) or isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of the pipeline's dicts (one image's output), got "
                        f"{type(value).__name__}.")
    return value


def _label_and_score(entry, where):
    label = entry.get("label")
    label = "" if label is None else str(label)
    score = entry.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, numbers.Real)):
        raise TypeError(f"{where}['score'] must be a number or None, got {score!r}.")
    return label, None if score is None else float(score)


def _check_detection(detection, i):
    where = f"detections[{i}]"
    if not isinstance(detection, Mapping):
        raise TypeError(f"{where} must be a dict with 'box', 'label' and 'score', got {type(detection).__name__}"
                        + (" (pass one image's detections, not a batch's list of lists)"
                           if isinstance(detection, list) else "") + ".")
    if "box" not in detection:
        raise ValueError(f"{where} has no 'box' (keys: {sorted(detection)}); object detection gives "
                         "{'score', 'label', 'box': {'xmin', 'ymin', 'xmax', 'ymax'}}.")
    box = detection["box"]
    keys = ("xmin", "ymin", "xmax", "ymax")
    if not isinstance(box, Mapping) or any(k not in box for k in keys):
        raise ValueError(f"{where}['box'] must be a dict with {list(keys)}, got {box!r}.")
    corners = []
    for k in keys:
        if isinstance(box[k], bool) or not isinstance(box[k], numbers.Real) or not math.isfinite(box[k]):
            raise ValueError(f"{where}['box']['{k}'] must be a finite number, got {box[k]!r}.")
        corners.append(float(box[k]))
    if corners[2] < corners[0] or corners[3] < corners[1]:
        raise ValueError(f"{where}['box'] has xmax < xmin or ymax < ymin: {box!r}.")
    return (*_label_and_score(detection, where), corners)


def _check_segment(segment, i, size):
    from PIL import Image

    where = f"segments[{i}]"
    if not isinstance(segment, Mapping):
        raise TypeError(f"{where} must be a dict with 'mask', 'label' and 'score', got {type(segment).__name__}.")
    if "mask" not in segment:
        raise ValueError(f"{where} has no 'mask' (keys: {sorted(segment)}); image segmentation gives "
                         "{'score', 'label', 'mask'}.")
    mask = segment["mask"]
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    elif isinstance(mask, np.ndarray) and mask.ndim == 2:
        # Integers are 0 / 255 (as the pipeline's "L" masks) unless they stop at 1 (a boolean mask as uint8).
        integers = np.issubdtype(mask.dtype, np.integer) and mask.size and mask.max() > 1
        mask = mask.astype(np.float32) / (255.0 if integers else 1.0)
    else:
        raise TypeError(f"{where}['mask'] must be an 'L' PIL image or a 2-D array, got {type(mask).__name__}.")
    if mask.shape != (size[1], size[0]):
        raise ValueError(f"{where}['mask'] is {mask.shape[1]}x{mask.shape[0]} but the image is {size[0]}x{size[1]}.")
    return (*_label_and_score(segment, where), np.clip(mask, 0.0, 1.0))


def _assign_colours(keys):
    """{key: RGB}: a key's preferred colour comes from a hash of its text (stable from picture to picture);
    a colour already taken in this picture passes to the next free one, so keys differ while colours last."""
    colours, taken = {}, set()
    for key in keys:
        if key in colours:
            continue
        slot = zlib.crc32(key.encode("utf-8")) % len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        colours[key] = PALETTE[slot]
    return colours


def _enlarge_factor(picture, min_size):
    if isinstance(min_size, bool) or not isinstance(min_size, numbers.Integral) or min_size < 0:
        raise ValueError(f"min_size must be a whole number of pixels >= 0, got {min_size!r}.")
    longer = max(picture.size)
    return max(1, -(-min_size // longer))  # ceil: the smallest whole factor that reaches min_size


def _enlarge(picture, factor):
    from PIL import Image

    if factor == 1:
        return picture
    return picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)


def _font(picture):
    from PIL import ImageFont

    size = max(11, round(max(picture.size) / 40))
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_size(font, text):
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom


def _draw_tag(draw, font, text, x, y, colour):
    """``text`` in a tag filled with ``colour`` that sits on the box's top edge (inside it at the picture's top)."""
    width, height = _text_size(font, text)
    top = y - height - 4 if y - height - 4 >= 0 else y
    draw.rectangle([x, top, x + width + 4, top + height + 4], fill=colour)
    ink = (0, 0, 0) if sum(colour) > 450 else (255, 255, 255)  # dark text on light tags
    draw.text((x + 2, top + 2), text, fill=ink, font=font)


# ---- figures (matplotlib) -------------------------------------------------------------------------

_FIGURE_CLASS = None


def _new_figure(**kwargs):
    """A ``matplotlib.figure.Figure`` on the Agg canvas that displays itself as PNG in IPython / Jupyter.

    Without pyplot, Jupyter knows no way to show a Figure (its inline backend registers one only when pyplot
    is imported); ``_repr_png_`` gives it one.
    """
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(f"keras_tfm.utils.visualize's plots need matplotlib: {INSTALL_HINT}") from error

        class _Figure(Figure):
            def _repr_png_(self):
                buffer = io.BytesIO()
                self.savefig(buffer, format="png", bbox_inches="tight")
                return buffer.getvalue()

        _FIGURE_CLASS = (_Figure, FigureCanvasAgg)
    figure_class, canvas_class = _FIGURE_CLASS
    figure = figure_class(layout="constrained", **kwargs)
    canvas_class(figure)
    return figure


def _to_numpy(value, name):
    """An array-like (numpy, a torch / TensorFlow / JAX tensor, nested lists) as a float64 numpy array."""
    if hasattr(value, "detach"):  # torch: a tensor that requires grad refuses numpy()
        value = value.detach().cpu().float()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}.") from error
    return array


def plot_audio(waveform, sampling_rate, *, title=None):
    """The waveform (seconds on x) over its log-mel spectrogram (dB), for one channel of audio.

    Args:
        waveform: 1-D samples (numpy or a tensor; (1, n) and (n, 1) are squeezed).
        sampling_rate: samples per second.
        title: the figure's title.

    The spectrogram is the power STFT (25 ms Hann windows every 10 ms) through 64 Slaney mel filters up to
    half the sampling rate, in dB below its peak (floored at -80 dB), computed by
    ``keras_tfm.processing.audio_spectrogram`` (the code of the Whisper feature extractor).
    """
    from keras_tfm.processing.audio_spectrogram import mel_filter_bank, power_spectrogram, window_function
    from keras_tfm.processing.audio_utils import check_sampling_rate

    rate = check_sampling_rate(sampling_rate)
    samples = _to_numpy(waveform, "waveform")
    if samples.ndim == 2 and 1 in samples.shape:
        samples = samples.reshape(-1)
    if samples.ndim != 1:
        raise ValueError(f"waveform must be one channel (1-D), got shape {samples.shape}; for stereo from soundfile "
                         "pass waveform.mean(axis=1).")
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        raise ValueError(f"waveform must hold finite samples, got {samples.size} samples"
                         + ("" if samples.size == 0 else " with NaN or inf") + ".")
    n_fft = 1 << max(4, math.ceil(math.log2(0.025 * rate)))  # a power of two of at least 25 ms
    hop = max(1, rate // 100)
    padded = np.pad(samples, (0, max(0, n_fft - samples.size)))  # reflect padding needs n_fft // 2 + 1 samples
    power = power_spectrogram(padded[None], window_function(n_fft), hop)[0]  # (frames, bins)
    filters = mel_filter_bank(n_fft // 2 + 1, 64, 0.0, rate / 2, rate, norm="slaney", mel_scale="slaney")
    decibels = 10.0 * np.log10(np.maximum(power @ filters, 1e-10)).T  # (mels, frames)
    decibels = np.maximum(decibels, decibels.max() - 80.0)
    duration = samples.size / rate

    figure = _new_figure(figsize=(8, 4.5))
    wave_axes, mel_axes = figure.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    wave_axes.plot(np.arange(samples.size) / rate, samples, linewidth=0.6, color="C0")
    wave_axes.set_ylabel("amplitude")
    wave_axes.set_title("waveform")
    image = mel_axes.imshow(decibels, origin="lower", aspect="auto", cmap="magma",
                            extent=(0.0, decibels.shape[1] * hop / rate, 0, decibels.shape[0]))
    mel_axes.set_xlim(0.0, duration)
    mel_axes.set_xlabel("time (s)")
    mel_axes.set_ylabel("mel band")
    mel_axes.set_title(f"log-mel spectrogram ({rate} Hz)")
    figure.colorbar(image, ax=mel_axes, label="dB")
    if title is not None:
        figure.suptitle(str(title))
    return figure


def plot_training(history, *, metrics=None):
    """Training curves: losses on one axes, other metrics (accuracy, ...) on a second one when there are any.

    Args:
        history: ``trainer.state.log_history`` (a list of dicts; ``trainer.state`` works too), a Keras
            ``History`` (what ``model.fit`` returns) or its ``.history`` dict.
        metrics: the names to draw (e.g. ``["loss", "eval_loss"]``); default every loss and metric logged,
            not the bookkeeping (learning rate, runtimes, throughputs, the final ``train_loss`` summary).

    x is the optimizer step for Trainer logs and the epoch (1, 2, ...) for Keras.
    """
    curves, x_label = _curves(history)
    if metrics is not None:
        if isinstance(metrics, str) or not isinstance(metrics, Sequence):
            raise TypeError(f"metrics must be a list of names, got {metrics!r}.")
        missing = [name for name in metrics if name not in curves]
        if missing:
            raise ValueError(f"metrics {missing} are not in the history; it has {sorted(curves)}.")
        curves = {name: curves[name] for name in metrics}
    else:
        curves = {name: points for name, points in curves.items() if _is_curve(name)}
    if not any(points for points in curves.values()):
        raise ValueError("history has nothing to plot: no loss or metric values were logged"
                         + (f" among {list(curves)}" if curves else "") + ".")
    losses = {name: points for name, points in curves.items() if "loss" in name and points}
    others = {name: points for name, points in curves.items() if "loss" not in name and points}
    groups = [(group, label) for group, label in ((losses, "loss"), (others, "metric")) if group]

    figure = _new_figure(figsize=(6.5 * len(groups), 4))
    axes_list = figure.subplots(1, len(groups), squeeze=False)[0]
    for axes, (group, label) in zip(axes_list, groups):
        for name, points in group.items():
            xs, ys = zip(*points)
            axes.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3, label=name)
        axes.set_xlabel(x_label)
        axes.set_ylabel(label)
        axes.set_title("losses" if group is losses else "metrics")
        axes.grid(alpha=0.3)
        axes.legend()
    return figure


def _curves(history):
    """{name: [(x, value), ...]} and the x label from a Trainer log history or a Keras history."""
    if hasattr(history, "log_history"):  # a TrainerState
        history = history.log_history
    if hasattr(history, "history") and isinstance(history.history, Mapping):  # keras.callbacks.History
        history = history.history
    if isinstance(history, Mapping):
        curves = {}
        for name, values in history.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise TypeError(f"history[{name!r}] must be a list of per-epoch values, got {type(values).__name__}.")
            curves[str(name)] = [(epoch, float(v)) for epoch, v in enumerate(values, start=1) if _is_number(v)]
        return curves, "epoch"
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise TypeError("history must be Trainer's state.log_history (a list of dicts), a Keras History or its "
                        f".history dict; got {type(history).__name__}.")
    curves = {}
    for i, entry in enumerate(history):
        if not isinstance(entry, Mapping):
            raise TypeError(f"history[{i}] must be a dict of logged values, got {type(entry).__name__}.")
        if "train_runtime" in entry:  # the end-of-training summary: one point of the mean loss, no curve
            continue
        x = entry.get("step", i)
        for name, value in entry.items():
            if _is_number(value):
                curves.setdefault(str(name), []).append((x, float(value)))
    return curves, "step"


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_curve(name):
    return name not in _NOT_CURVES and not name.endswith(_NOT_CURVE_SUFFIXES)


def plot_attention(tokens, attention, *, title=None):
    """One attention matrix (query x key) as a heat map with the tokens along both axes.

    Args:
        tokens: the token strings, e.g. ``tokenizer.convert_ids_to_tokens(input_ids[0])``.
        attention: (len(tokens), len(tokens)) weights, numpy or a tensor of any backend, e.g. the last layer's
            for the first example, averaged over heads: ``keras.ops.mean(outputs.attentions[-1][0], axis=0)``.
        title: the axes' title.
    """
    if isinstance(tokens, str) or not isinstance(tokens, Sequence) or not all(isinstance(t, str) for t in tokens):
        raise TypeError(f"tokens must be a list of strings, got {tokens!r:.200}.")
    weights = _to_numpy(attention, "attention")
    if weights.ndim != 2:
        raise ValueError(f"attention must be one (query x key) matrix, got shape {weights.shape}; average the heads "
                         "of one example first, e.g. keras.ops.mean(outputs.attentions[-1][0], axis=0).")
    if weights.shape != (len(tokens), len(tokens)):
        raise ValueError(f"attention has shape {weights.shape} but there are {len(tokens)} tokens; it must be "
                         f"({len(tokens)}, {len(tokens)}).")
    side = min(12.0, 2.5 + 0.35 * len(tokens))
    figure = _new_figure(figsize=(side + 1.0, side))
    axes = figure.subplots()
    image = axes.imshow(weights, cmap="viridis", aspect="equal")
    positions = np.arange(len(tokens))
    axes.set_xticks(positions, labels=list(tokens), rotation=90)
    axes.set_yticks(positions, labels=list(tokens))
    axes.set_xlabel("key")
    axes.set_ylabel("query")
    if title is not None:
        axes.set_title(str(title))
    figure.colorbar(image, ax=axes, label="attention weight", shrink=0.8)
    return figure


def plot_bars(values, *, title=None, unit=None):
    """``{"torch": 1.2, "tensorflow": 1.5, ...}`` as bars in the dict's order, each value written on its bar.

    Args:
        values: a dict of name -> number.
        title: the axes' title.
        unit: the values' unit (e.g. "s", "ms / batch"), on the y axis and after each value.
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"values must be a dict of name -> number, got {type(values).__name__}.")
    if not values:
        raise ValueError("values is empty: there is nothing to plot.")
    for name, value in values.items():
        if not _is_number(value) and not isinstance(value, np.number):
            raise TypeError(f"values[{name!r}] must be a finite number, got {value!r}.")
    names = [str(name) for name in values]
    heights = [float(value) for value in values.values()]
    if not all(math.isfinite(h) for h in heights):
        raise TypeError(f"values must be finite numbers, got {dict(zip(names, heights))}.")
    figure = _new_figure(figsize=(max(4.0, 1.2 * len(names) + 1.5), 3.8))
    axes = figure.subplots()
    bars = axes.bar(names, heights, color=[f"C{i % 10}" for i in range(len(names))])
    suffix = f" {unit}" if unit else ""
    axes.bar_label(bars, labels=[f"{_short_number(h)}{suffix}" for h in heights], padding=2)
    axes.margins(y=0.15)
    if unit:
        axes.set_ylabel(str(unit))
    if title is not None:
        axes.set_title(str(title))
    return figure


def _short_number(value):
    """3 significant digits without an exponent for everyday sizes: 2944 -> '2944', 0.0123 -> '0.0123'."""
    return f"{value:.0f}" if 1000 <= abs(value) < 1e9 else f"{value:.3g}"
