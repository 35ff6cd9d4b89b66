"""The safetensors reader refuses every malformed header with a CheckpointError naming the file,
as the safetensors library refuses it: nothing loads silently wrong, nothing crashes deep inside."""

import json
import struct

import numpy as np
import pytest

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.formats import open_checkpoint, write_checkpoint
from keras_tfm.checkpoints.formats_safetensors import SafetensorsFile


def write_raw(path, header, data=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def two_tensors(a_offsets=(0, 8), b_offsets=(8, 24)):
    return {"a": {"dtype": "F32", "shape": [2], "data_offsets": list(a_offsets)},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": list(b_offsets)}}


def test_a_valid_file_reads(tmp_path):
    data = np.arange(6, dtype="<f4").tobytes()
    f = SafetensorsFile(write_raw(tmp_path / "ok.safetensors", two_tensors(), data))
    np.testing.assert_array_equal(f.get("b"), [2, 3, 4, 5])


@pytest.mark.parametrize("header, culprit", [
    (two_tensors((0, 8), (4, 20)), "overlaps"),
    (two_tensors((0, 8), (12, 28)), "gap"),
    (two_tensors((8, 16), (16, 32)), "gap at byte 0"),
    (two_tensors((-8, 0), (0, 16)), "non-negative"),
    (two_tensors((0, 8), (8, 20)), "hold 12 bytes"),
    (two_tensors(("0", "8"), (8, 24)), "non-negative integers"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, "shape"),
    ({"a": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}, "shape"),
    ({"a": {"dtype": "Q8", "shape": [2], "data_offsets": [0, 8]}}, "unknown dtype"),
    ({"a": [1, 2]}, "not an object"),
    ([1, 2, 3], "JSON list"),
    ({"__metadata__": {"format": 1}}, "__metadata__"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, "data section has 24"),
    ({"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}, "'a' lies past the end"),
    ({"a": {"dtype": "F32", "shape": [10**9, 10**9, 10**9], "data_offsets": [0, 24]}}, "hold 24 bytes"),
    (b"[" * 100_000 + b"]" * 100_000, "not a valid"),
    (b"\xff\xfe{}", "not a valid"),
])
def test_malformed_headers_are_refused_naming_the_file(tmp_path, header, culprit):
    path = write_raw(tmp_path / "bad.safetensors", header, np.zeros(6, "<f4").tobytes())
    with pytest.raises(CheckpointError, match="bad.safetensors") as error:
        SafetensorsFile(path)
    assert culprit in str(error.value)


@pytest.mark.parametrize("shard", ["../model.safetensors", "/etc/passwd", "sub/model.safetensors", "..", ""])
def test_index_naming_a_shard_outside_the_folder_is_refused(tmp_path, shard):
    folder = tmp_path / "ckpt"
    write_checkpoint({"w": np.ones(4, "float32")}, str(folder), "safetensors")
    (folder / "model.safetensors").rename(tmp_path / "model.safetensors")  # the file `../x` would reach
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": shard}}))
    with pytest.raises(CheckpointError, match="no path"):
        open_checkpoint(str(folder))
