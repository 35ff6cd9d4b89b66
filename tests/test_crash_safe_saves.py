"""Saves that survive being killed: the folder holds the complete old set of files or the complete new one.

The staging itself (keras_tfm.utils.io.staged_folder) is tested directly, then the writers are killed
for real: a forked child runs the save and the parent SIGKILLs it at a random moment (50 times per
writer); after each kill the folder must load, as the old model or as the new one, exactly.
The kills run on torch only: forking a process whose JAX or TensorFlow runtime has started threads can
deadlock the child. The writers' file handling is the same code on every backend.
"""

import os
import random
import signal
import stat
import threading
import time

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm.utils.io import STAGE_MARK, STAGE_SUFFIX, recover_folder, staged_folder


def siblings(folder):
    return sorted(f for f in os.listdir(folder.parent) if f.endswith(STAGE_SUFFIX))


def test_new_folder_appears_whole_with_open_modes(tmp_path):
    folder = tmp_path / "model"
    with staged_folder(folder) as stage:
        assert not folder.exists()
        with open(os.path.join(stage, "a.json"), "w") as f:
            f.write("{}")
    assert sorted(os.listdir(folder)) == ["a.json"] and siblings(folder) == []
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o777 & ~umask


def test_atomic_files_get_the_modes_open_gives(tmp_path):
    from keras_tfm.utils.io import atomic_write_text

    atomic_write_text(tmp_path / "x.json", "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "x.json").st_mode) == 0o666 & ~umask  # 0644, not mkstemp's 0600


def test_old_files_and_subfolders_stay_and_a_failed_save_changes_nothing(tmp_path):
    folder = tmp_path / "model"
    (folder / "checkpoint-5").mkdir(parents=True)
    (folder / "checkpoint-5" / "state.json").write_text("5")
    (folder / "tokenizer.json").write_text("tok")
    (folder / "config.json").write_text("old")
    with staged_folder(folder) as stage:
        assert sorted(os.listdir(stage)) == sorted([STAGE_MARK, "tokenizer.json", "config.json"])
        os.replace(_write(tmp_path / "new", "new"), os.path.join(stage, "config.json"))
        assert (folder / "config.json").read_text() == "old"  # the old set is untouched until the swap
    assert (folder / "config.json").read_text() == "new" and (folder / "tokenizer.json").read_text() == "tok"
    assert (folder / "checkpoint-5" / "state.json").read_text() == "5"
    assert STAGE_MARK not in os.listdir(folder) and siblings(folder) == []
    with pytest.raises(RuntimeError, match="half way"):
        with staged_folder(folder) as stage:
            os.remove(os.path.join(stage, "config.json"))
            raise RuntimeError("half way")
    assert (folder / "config.json").read_text() == "new" and siblings(folder) == []


def test_a_symlinked_folder_keeps_its_link_and_its_target_is_replaced(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    _write(target / "config.json", "old")
    (tmp_path / "link").symlink_to(target)
    with staged_folder(tmp_path / "link") as stage:
        os.replace(_write(tmp_path / "new", "new"), os.path.join(stage, "config.json"))
    assert (tmp_path / "link").is_symlink() and (target / "config.json").read_text() == "new"
    assert siblings(target) == []


def test_without_old_files_the_folder_holds_only_the_new(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "stale.bin").write_text("x")
    with staged_folder(folder, keep_old_files=False) as stage:
        _write(os.path.join(stage, "model.safetensors"), "w")
    assert sorted(os.listdir(folder)) == ["model.safetensors"]


def test_a_save_inside_a_save_writes_into_the_outer_stage(tmp_path):
    with staged_folder(tmp_path / "m") as stage:
        with staged_folder(stage) as inner:
            assert inner == stage
    assert siblings(tmp_path / "m") == []


def test_recovery_after_kills_at_each_step(tmp_path):
    folder = tmp_path / "m"
    # killed while writing: a stage with its mark; the folder is the old one
    folder.mkdir()
    _write(folder / "config.json", "old")
    stage = tmp_path / f".m.abc{STAGE_SUFFIX}"
    stage.mkdir()
    _write(stage / STAGE_MARK, "")
    # a stage of another folder whose name starts the same is not touched
    other = tmp_path / f".m.b.xyz{STAGE_SUFFIX}"
    other.mkdir()
    recover_folder(folder)
    assert not stage.exists() and other.exists() and (folder / "config.json").read_text() == "old"
    # killed between the two renames of the fallback swap: the old folder is put back
    os.rename(folder, tmp_path / f".m.old{STAGE_SUFFIX}")
    recover_folder(folder)
    assert (folder / "config.json").read_text() == "old"
    # killed after the swap: the mark is removed, the old contents' subfolders move over
    _write(folder / STAGE_MARK, "")
    old = tmp_path / f".m.q1{STAGE_SUFFIX}"
    (old / "checkpoint-3").mkdir(parents=True)
    recover_folder(folder)
    assert sorted(os.listdir(folder)) == ["checkpoint-3", "config.json"] and not old.exists()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# --- real kills -------------------------------------------------------------------------------

KILLS = 50
CHILD_LIMIT = 60  # seconds; a forked save takes well under one


def _model(num_labels, seed):
    keras.utils.set_random_seed(seed)
    config = keras_tfm.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=37, max_position_embeddings=64, num_labels=num_labels)
    model = keras_tfm.BertForSequenceClassification(config)
    model.build_weights()
    return model


def _state(model):
    return {name: np.asarray(value) for name, value in model.state_dict_hf().items()}


def _fork_save(save):
    """Forks a child that runs ``save()`` and exits (0 done, 3 raised, SIGALRM: hung past CHILD_LIMIT); returns
    its pid once it has started (or ended)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            # First of all: a child that deadlocks on a lock some parent thread held at the fork is ended by
            # the kernel (SIGALRM's default action), so no wait on it is endless. Nothing that takes a lock
            # may come before: faulthandler.dump_traceback_later did deadlock here, on the lock of pytest's
            # own faulthandler watchdog (faulthandler_timeout) that the parent's watchdog thread held.
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(CHILD_LIMIT)
            os.close(read)
            import torch
            from tqdm import std as tqdm_std

            torch.set_num_threads(1)  # no OpenMP region after a fork
            # tqdm's write lock holds a semaphore shared with the parent (TqdmDefaultWriteLock.mp_lock, used by
            # every tqdm class, transformers' included): a child killed while holding it would leave the
            # parent's next progress bar waiting forever. The child takes no tqdm lock at all.
            tqdm_std.TqdmDefaultWriteLock.acquire = lambda self, *args, **kwargs: True
            tqdm_std.TqdmDefaultWriteLock.release = lambda self: None
            os.write(write, b"1")
            save()
            os._exit(0)
        except BaseException:
            os._exit(3)
    os.close(write)
    os.read(read, 1)
    os.close(read)
    return pid


def _kill_during(save, window):
    """Kills a forked ``save()`` at a moment drawn from [0, window] seconds (it may finish first)."""
    pid = _fork_save(save)
    time.sleep(random.uniform(0, window))
    if os.waitpid(pid, os.WNOHANG)[0] != pid:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, f"the save failed (status {status})"


def _kills(name, save, reset, outcome):
    """KILLS kills of ``save()``, each after ``reset()``; ``outcome()`` checks the folder and says "old" or "new".

    The first window is a forked save's own duration. It adapts: doubled after 10 kills in a row that all
    found the old folder, halved after 10 that all found the new one, so that kills fall on both sides of
    the swap on a quiet machine and under `make test`'s load alike."""
    durations, hung = [], 0
    while len(durations) < 2:
        reset()
        start = time.perf_counter()
        _, status = os.waitpid(_fork_save(save), 0)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM and hung < 2:
            hung += 1  # a lock held by a parent thread at the fork (a race): fork again
            continue
        assert status == 0, f"{name}: an uninterrupted save failed (status {status}; {hung} hung before)"
        durations.append(time.perf_counter() - start)
    window = 1.2 * max(durations) + 0.002
    random.seed(name)
    outcomes, run = {"old": 0, "new": 0}, []
    for _ in range(KILLS):
        reset()
        _kill_during(save, window)
        result = outcome()
        outcomes[result] += 1
        run = run + [result] if run and run[-1] == result else [result]
        if len(run) == 10:
            window, run = (window * 2 if result == "old" else window / 2), []
    print(f"{name}: {KILLS} kills, old {outcomes['old']}, new {outcomes['new']}")
    from tqdm import std as tqdm_std

    shared = getattr(tqdm_std.TqdmDefaultWriteLock, "mp_lock", None)  # free, or the next progress bar waits forever
    assert shared is None or (shared.acquire(timeout=30) and shared.release() is None), "a killed child held tqdm's lock"
    assert outcomes["old"] and outcomes["new"], f"{name}: the kills never fell on both sides of the swap: {outcomes}"


WRITERS = {  # save_pretrained's arguments, from_pretrained's
    "safetensors": (dict(), dict()),
    "safetensors-sharded": (dict(max_shard_size="40KB"), dict()),
    "bin": (dict(safe_serialization=False), dict()),
    "tf": (dict(format="tf"), dict(from_tf=True)),
    "flax": (dict(format="flax"), dict(from_flax=True)),
    "keras": (dict(format="keras"), dict()),
}


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="forks: the kills run in the torch suite")
@pytest.mark.parametrize("writer", list(WRITERS))
def test_killed_save_pretrained_leaves_the_old_or_the_new_model(writer, tmp_path):
    kwargs, load_kwargs = WRITERS[writer]
    old, new = _model(2, 0), _model(3, 1)
    expected = {2: _state(old), 3: _state(new)}
    pristine = tmp_path / "pristine"
    old.save_pretrained(pristine, **kwargs)
    folder = tmp_path / "model"

    def outcome():
        loaded = keras_tfm.BertForSequenceClassification.from_pretrained(folder, **load_kwargs)  # never an error
        labels = loaded.config.num_labels
        state = _state(loaded)
        assert state.keys() == expected[labels].keys()
        for name, value in state.items():
            np.testing.assert_array_equal(value, expected[labels][name], err_msg=f"{writer}: {name} mixed")
        return "old" if labels == 2 else "new"

    _kills(writer, lambda: new.save_pretrained(folder, **kwargs), lambda: _reset(pristine, folder), outcome)
    new.save_pretrained(folder, **kwargs)  # the next save cleans what the kills left
    assert siblings(folder) == []


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="forks: the kills run in the torch suite")
def test_killed_convert_overwrite_leaves_the_old_or_the_new_checkpoint(tmp_path):
    from keras_tfm.checkpoints.convert import convert

    old, new = _model(2, 0), _model(3, 1)
    expected = {2: _state(old), 3: _state(new)}
    pristine, source, folder = tmp_path / "pristine", tmp_path / "source", tmp_path / "converted"
    old.save_pretrained(pristine, format="tf")
    new.save_pretrained(source)

    def outcome():
        loaded = keras_tfm.BertForSequenceClassification.from_pretrained(folder, from_tf=True)
        labels = loaded.config.num_labels
        for name, value in _state(loaded).items():
            np.testing.assert_array_equal(value, expected[labels][name], err_msg=f"convert: {name} mixed")
        return "old" if labels == 2 else "new"

    _kills("convert --overwrite", lambda: convert(source, folder, to="tf", overwrite=True),
           lambda: _reset(pristine, folder), outcome)
    from tqdm import tqdm

    done = []  # a progress bar in this process after the kills: it must not wait on a lock a killed child held
    thread = threading.Thread(target=lambda: done.append(list(tqdm(range(3), disable=False))))
    thread.start()
    thread.join(timeout=30)
    assert done, "a progress bar waited on tqdm's lock: a killed child held it"


def _reset(pristine, folder):
    import shutil

    for name in siblings(folder) if folder.parent.exists() else []:
        shutil.rmtree(folder.parent / name)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(pristine, folder)


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="forks: the kills run in the torch suite")
def test_killed_trainer_checkpoint_is_complete_or_absent_and_resumable(tmp_path):
    import json

    from keras_tfm import Trainer
    from tests.test_trainer import args, fixed_rows, model_from

    trainer = Trainer(model=model_from(), args=args(tmp_path, "run", max_steps=2, save_strategy="steps", save_steps=1),
                      train_dataset=fixed_rows())
    trainer.train()
    out = tmp_path / "run"
    pristine = tmp_path / "pristine"
    import shutil

    shutil.copytree(out, pristine)
    trainer.state.global_step = 3  # the next save writes checkpoint-3 beside checkpoint-1 and -2

    def outcome():
        checkpoints = sorted(f for f in os.listdir(out) if f.startswith("checkpoint-"))
        assert checkpoints in (["checkpoint-1", "checkpoint-2"], ["checkpoint-1", "checkpoint-2", "checkpoint-3"])
        if len(checkpoints) == 2:
            return "old"
        with open(out / "checkpoint-3" / "trainer_state.json") as f:
            assert json.load(f)["global_step"] == 3
        keras_tfm.AutoModelForSequenceClassification.from_pretrained(out / "checkpoint-3")
        return "new"

    _kills("Trainer checkpoint", trainer._save_checkpoint, lambda: _reset(pristine, out), outcome)


def _tokenizer_fingerprint(tokenizer):
    return tokenizer._tokenizer.to_str(), tokenizer.model_max_length, tokenizer.padding_side


def _processors():
    """Two BLIP processors (image processor + MiniLM's tokenizer) that differ in every file they save."""
    from tests.conftest import minilm_dir

    old = keras_tfm.BlipProcessor(keras_tfm.BlipImageProcessor(size={"height": 32, "width": 32}),
                                  keras_tfm.AutoTokenizer.from_pretrained(minilm_dir()))
    tokenizer = keras_tfm.AutoTokenizer.from_pretrained(minilm_dir(), model_max_length=64, padding_side="left")
    tokenizer.add_tokens(["<shape>", "<colour>"])
    new = keras_tfm.BlipProcessor(keras_tfm.BlipImageProcessor(size={"height": 48, "width": 48},
                                                               image_mean=[0.5] * 3), tokenizer)
    return old, new


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="forks: the kills run in the torch suite")
@pytest.mark.parametrize("part", ["tokenizer", "processor"])
def test_killed_tokenizer_and_processor_saves_leave_the_old_or_the_new(part, tmp_path):
    old, new = _processors()
    if part == "tokenizer":
        old, new, load = old.tokenizer, new.tokenizer, keras_tfm.AutoTokenizer.from_pretrained

        def fingerprint(tokenizer):
            return _tokenizer_fingerprint(tokenizer)
    else:
        load = keras_tfm.AutoProcessor.from_pretrained

        def fingerprint(processor):
            image_processor = processor.image_processor.to_dict()
            return _tokenizer_fingerprint(processor.tokenizer), image_processor["size"], image_processor["image_mean"]
    expected = {"old": fingerprint(old), "new": fingerprint(new)}
    assert expected["old"] != expected["new"]
    pristine, folder = tmp_path / "pristine", tmp_path / part
    old.save_pretrained(pristine)

    def outcome():
        loaded = fingerprint(load(folder))  # never an error
        found = [name for name, value in expected.items() if value == loaded]
        assert found, f"{part}: the folder loads as neither the old nor the new {part} (a mix)"
        return found[0]

    _kills(f"{part} save_pretrained", lambda: new.save_pretrained(folder), lambda: _reset(pristine, folder), outcome)
    new.save_pretrained(folder)  # the next save cleans what the kills left
    assert siblings(folder) == []


RESUMES = 12


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "torch", reason="forks: the kills run in the torch suite")
def test_training_killed_at_any_moment_resumes_to_the_uninterrupted_result(tmp_path):
    import shutil

    from keras_tfm import Trainer
    from tests.test_trainer import args, fixed_rows, model_from, weights

    settings = dict(max_steps=6, save_strategy="steps", save_steps=1)
    full = Trainer(model=model_from(), args=args(tmp_path, "full", **settings), train_dataset=fixed_rows())
    full.train()
    expected = weights(full.model)
    out = tmp_path / "run"

    def train():
        Trainer(model=model_from(), args=args(tmp_path, "run", **settings), train_dataset=fixed_rows()).train()

    start = time.perf_counter()
    _, status = os.waitpid(_fork_save(train), 0)
    assert status == 0, f"an uninterrupted training run failed (status {status})"
    window = time.perf_counter() - start
    random.seed("training")
    resumed_from = []
    for _ in range(RESUMES):
        shutil.rmtree(out, ignore_errors=True)
        _kill_during(train, window)
        checkpoints = [f for f in os.listdir(out) if f.startswith("checkpoint-")] if out.exists() else []
        resumed_from.append(max((int(f.split("-")[1]) for f in checkpoints), default=0))
        # A fresh process resumes with a fresh model (another init): everything must come from the checkpoint.
        # Killed before the first checkpoint, it starts the run again, as it was started.
        resumed = Trainer(model=model_from(seed=7 if checkpoints else 0), args=args(tmp_path, "run", **settings),
                          train_dataset=fixed_rows())
        resumed.train(resume_from_checkpoint=True if checkpoints else None)
        assert resumed.state.global_step == 6
        for name, value in weights(resumed.model).items():
            np.testing.assert_allclose(value, expected[name], atol=1e-5, err_msg=f"resumed from step {resumed_from[-1]}")
    print(f"training killed {RESUMES} times, resumed from steps {resumed_from}")
    assert len(set(resumed_from)) > 1, f"the kills all fell at one point: {resumed_from}"
