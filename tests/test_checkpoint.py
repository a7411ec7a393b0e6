"""checkpoint.py: a run's state saved to a folder, read back safely, and resumed to the same result."""

import copy
import os

import pytest
import torch

from nst_edu.core import checkpoint, transfer
from nst_edu.core.config import preset

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
    path = checkpoint.save(
        states[0], tmp_path / "ckpt", extra={"content": "chelsea", "fingerprints": {"a": "b"}}
    )
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


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, "there is no checkpoint at"),
        (lambda p: (p / "state.pt").write_bytes(b""), "is damaged"),
        (lambda p: (p / "state.pt").write_bytes(os.urandom(300)), "is damaged"),
        (lambda p: torch.save([1, 2], p / "state.pt"), "holds a list, not a run's state"),
        (
            lambda p: torch.save({"image": torch.zeros(1)}, p / "state.pt"),
            "lacks optimizer, history, frames, step, config",
        ),
    ],
)
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


def _edited(state, edit):
    state = copy.deepcopy(state)
    edit(state)
    return state


NAN = float("nan")
# Edits of a real checkpoint (after step 4 of 6, L-BFGS), each as a damaged or hand-edited file would hold it.
EDITS = {
    "config: size -3": (
        lambda s: s["config"].update(size=-3),
        "bad config field: size must be a whole number ≥ 0, got -3",
    ),
    "config: alpha 'x'": (
        lambda s: s["config"].update(alpha="x"),
        "bad config field: alpha must be a number",
    ),
    "config: unknown key": (
        lambda s: s["config"].update(gamma=1),
        "bad config field: unknown Config field(s): gamma",
    ),
    "config: a string": (
        lambda s: s.update(config="fast"),
        "bad config field: a str, not a dict of settings",
    ),
    "step -3": (
        lambda s: s.update(step=-3),
        "bad step field: -3 is not a whole number from 0 to 6, the run's number of steps",
    ),
    "step '4'": (lambda s: s.update(step="4"), "bad step field: '4' is not a whole number"),
    "step True": (lambda s: s.update(step=True), "bad step field: True is not a whole number"),
    "steps below the step": (
        lambda s: s["config"].update(steps=3),
        "bad step field: 4 is not a whole number from 0 to 3, the run's number of steps",
    ),
    "image of NaNs": (lambda s: s["image"].fill_(NAN), "bad image field: it contains NaN or infinite values"),
    "image outside [0, 1]": (lambda s: s["image"].mul_(255), "bad image field: its values span"),
    "image 2 channels": (
        lambda s: s.update(image=s["image"][:, :2]),
        "bad image field: a torch.float32 tensor of shape (1, 2, 43, 64), not",
    ),
    "image int": (
        lambda s: s.update(image=s["image"].to(torch.uint8)),
        "bad image field: a torch.uint8 tensor",
    ),
    "image a list": (lambda s: s.update(image=[1, 2]), "bad image field: a list, not a float tensor"),
    "image of another size": (
        lambda s: s.update(image=torch.rand(1, 3, 32, 48)),
        "bad image field: its longer side is 48 px, the run's size at step 4 is 64 px",
    ),
    "history row lacks seconds": (
        lambda s: s["history"][0].pop("seconds"),
        "bad history field: row 0 lacks the column seconds",
    ),
    "history too short": (lambda s: s["history"].pop(), "bad history field: 3 rows for step 4"),
    "history NaN": (
        lambda s: s["history"][1].update(total=NAN),
        "bad history field: row 1 holds total = nan",
    ),
    "history step": (lambda s: s["history"][2].update(step=7), "bad history field: row 2 says step 7"),
    "history not a list": (lambda s: s.update(history={}), "bad history field: a dict, not a list of rows"),
    "frames: a triple": (
        lambda s: s.update(frames=[(0, 1, 2)]),
        "bad frames field: item 0 is a tuple, not a (step, image) pair",
    ),
    "frames: after the step": (
        lambda s: s["frames"].append((9, s["frames"][0][1])),
        "bad frames field: item 2 is at step 9, not a step after 2 and at most 4",
    ),
    "frames: float image": (
        lambda s: s.update(frames=[(0, torch.rand(4, 4, 3))]),
        "bad frames field: item 0 is a torch.float32 tensor",
    ),
    "optimizer: no pairs": (
        lambda s: s["optimizer"].pop("pairs"),
        "bad optimizer field: not the state of an L-BFGS optimizer",
    ),
    "optimizer: pair unpacks wrong": (
        lambda s: s["optimizer"]["pairs"].append((1, 2, 3, 4)),
        "bad optimizer field: pair 3 is a tuple, not (s, y, ρ)",
    ),
    "optimizer: NaN in prev_g": (
        lambda s: s["optimizer"]["prev_g"].fill_(NAN),
        "bad optimizer field: prev_g contains NaN or infinite values",
    ),
    "optimizer: wrong shape": (
        lambda s: s["optimizer"].update(prev_x=torch.zeros(3)),
        "bad optimizer field: prev_x is a torch.float32 tensor of shape (3,)",
    ),
    "optimizer: lr edited": (lambda s: s["optimizer"].update(lr=5.0), "bad optimizer field: its lr 5.0"),
    "optimizer: a list": (lambda s: s.update(optimizer=[1]), "bad optimizer field: a list, not an optimizer"),
    "extra: checkpoint_every 0": (
        lambda s: s.update(extra={"checkpoint_every": 0}),
        "bad extra.checkpoint_every field: 0 is not a number of steps ≥ 1",
    ),
    "extra: content a number": (lambda s: s.update(extra={"content": 5}), "bad extra.content field"),
    "not a dict": (lambda s: s.clear(), "lacks image, optimizer, history, frames, step, config"),
}


@pytest.mark.parametrize("edit, words", EDITS.values(), ids=EDITS.keys())
def test_load_checks_every_field_and_names_it(tmp_path, states_and_result, edit, words):
    checkpoint.save(_edited(states_and_result[0][1], edit), tmp_path)
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.load(tmp_path)
    message = str(info.value)
    assert message.startswith(f"the checkpoint {tmp_path / 'state.pt'} ") and words in message, message
    assert message.endswith("; start the run again (nst-edu --checkpoint-every N writes <out>/checkpoint/)")
    assert "\n" not in message


def test_validate_accepts_every_real_state_and_checks_the_config(states_and_result):
    for state in states_and_result[0]:
        assert checkpoint.validate(state) == CONFIG
        assert checkpoint.validate(state, CONFIG) == CONFIG
    with pytest.raises(
        checkpoint.CheckpointError, match=r"was made with a different Config \(steps differ\)"
    ):
        checkpoint.validate(states_and_result[0][0], CONFIG.replace(steps=7))


def test_validate_adam_and_coarse_stage_states(tiny_pair):
    config = CONFIG.replace(optimizer="adam", lr=0.01, steps=2, coarse_steps=2, size=64)
    states = []
    transfer.run(*tiny_pair, config, progress=False, checkpoint=states.append, checkpoint_every=1)
    assert [s["step"] for s in states] == [1, 2, 3]
    for state in states:  # the coarse stage (32 px) and the full size (64 px)
        assert checkpoint.validate(state) == config
    bad = _edited(states[0], lambda s: s["optimizer"]["state"][0].update(exp_avg=torch.zeros(2)))
    with pytest.raises(
        checkpoint.CheckpointError, match="bad optimizer field: exp_avg is a torch.float32 tensor"
    ):
        checkpoint.validate(bad)
    bad = _edited(states[0], lambda s: s["optimizer"].update(pairs=[]))
    with pytest.raises(
        checkpoint.CheckpointError, match="bad optimizer field: not the state of an Adam optimizer"
    ):
        checkpoint.validate(bad)


def test_fingerprint():
    x = torch.rand(1, 3, 8, 8)
    assert checkpoint.fingerprint(x) == checkpoint.fingerprint(x.clone())
    y = x.clone()
    y[0, 0, 0, 0] += 1e-6
    assert checkpoint.fingerprint(x) != checkpoint.fingerprint(y)
    assert checkpoint.fingerprint(x) != checkpoint.fingerprint(x.reshape(1, 3, 4, 16))
