"""checkpoint.py: a run's state saved to a folder, read back safely, and resumed to the same result."""

import os

import pytest
import torch

from nst_edu import checkpoint, transfer
from nst_edu.config import preset

CONFIG = preset("fast", size=64, steps=6, coarse_steps=0, frame_every=2, device="cpu")


@pytest.fixture(scope="module")
def states_and_result(tiny_pair):
    """Every checkpoint of a 6-step run (every 2 steps) and the run's result."""
    C, S = tiny_pair
    states = []
    result = transfer.run(C, S, CONFIG, progress=False, checkpoint=states.append, checkpoint_every=2)
    return states, result


def test_save_load_round_trip_with_weights_only(tmp_path, states_and_result):
    states, _ = states_and_result
    path = checkpoint.save(states[0], tmp_path / "ckpt", extra={"content": "chelsea", "fingerprints": {"a": "b"}})
    assert path == tmp_path / "ckpt" / "state.pt"
    raw = torch.load(path, weights_only=True)  # plain data only: no pickled code
    loaded = checkpoint.load(tmp_path / "ckpt")
    assert loaded["extra"] == {"content": "chelsea", "fingerprints": {"a": "b"}} == raw["extra"]
    assert loaded["step"] == 2 and loaded["config"] == CONFIG.to_dict()
    assert torch.equal(loaded["image"], states[0]["image"])
    assert checkpoint.load(path)["step"] == 2  # the state file itself is accepted too


def test_resume_from_a_loaded_checkpoint_is_bit_identical(tmp_path, tiny_pair, states_and_result):
    C, S = tiny_pair
    states, full = states_and_result
    for state in states:  # after step 2 and after step 4
        checkpoint.save(state, tmp_path)
        resumed = transfer.run(C, S, CONFIG, progress=False, resume=checkpoint.load(tmp_path))
        assert torch.equal(resumed.image, full.image)
        for column in ("content", "style", "total"):
            assert (resumed.history.column(column) == full.history.column(column)).all()
        assert [k for k, _ in resumed.frames] == [k for k, _ in full.frames]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, states_and_result):
    states, _ = states_and_result
    checkpoint.save(states[0], tmp_path)
    before = (tmp_path / "state.pt").read_bytes()

    def half_then_fail(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save(states[1], tmp_path)
    assert (tmp_path / "state.pt").read_bytes() == before
    assert os.listdir(tmp_path) == ["state.pt"]  # no temporary file left behind
    assert checkpoint.load(tmp_path)["step"] == 2


def test_writer_counts_and_replaces(tmp_path, states_and_result):
    states, _ = states_and_result
    writer = checkpoint.Writer(tmp_path / "c", extra={"out": "x"})
    for state in states:
        writer(state)
    assert writer.count == len(states) == 2 and writer.last_step == 4
    assert checkpoint.load(tmp_path / "c")["step"] == 4


@pytest.mark.parametrize("make, words", [
    (lambda p: None, "there is no checkpoint at"),
    (lambda p: (p / "state.pt").write_bytes(b""), "is damaged"),
    (lambda p: (p / "state.pt").write_bytes(os.urandom(300)), "is damaged"),
    (lambda p: torch.save([1, 2], p / "state.pt"), "holds a list, not a run's state"),
    (lambda p: torch.save({"image": torch.zeros(1)}, p / "state.pt"), "lacks optimizer, history, frames, step, "
                                                                       "config"),
])
def test_load_errors_say_what_and_what_to_do(tmp_path, make, words):
    make(tmp_path)
    with pytest.raises(checkpoint.CheckpointError, match=words) as info:
        checkpoint.load(tmp_path)
    assert "nst-edu --checkpoint-every N" in str(info.value)
    assert issubclass(checkpoint.CheckpointError, ValueError)


def test_load_refuses_a_truncated_checkpoint(tmp_path, states_and_result):
    path = checkpoint.save(states_and_result[0][0], tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="is damaged"):
        checkpoint.load(tmp_path)


def test_load_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"image": Evil()}, tmp_path / "state.pt")
    words = r"is damaged or not a checkpoint \(it holds Python objects, which the safe loader \(weights_only=True\)"
    with pytest.raises(checkpoint.CheckpointError, match=words):
        checkpoint.load(tmp_path)


def test_load_refuses_an_invalid_config(tmp_path, states_and_result):
    state = dict(states_and_result[0][0], config=dict(CONFIG.to_dict(), size=-3))
    checkpoint.save(state, tmp_path)
    with pytest.raises(checkpoint.CheckpointError, match="invalid config .*size"):
        checkpoint.load(tmp_path)


def test_fingerprint():
    x = torch.rand(1, 3, 8, 8)
    assert checkpoint.fingerprint(x) == checkpoint.fingerprint(x.clone())
    y = x.clone()
    y[0, 0, 0, 0] += 1e-6
    assert checkpoint.fingerprint(x) != checkpoint.fingerprint(y)
    assert checkpoint.fingerprint(x) != checkpoint.fingerprint(x.reshape(1, 3, 4, 16))
