"""Figures and animations: what they contain, and that files are complete and readable."""

import numpy as np
import pytest
import torch
from PIL import Image

from nst_edu.core.config import preset
from nst_edu.core.transfer import History
from nst_edu.output import animation, plots


def _history(n=5):
    rows = [
        {
            "step": i,
            "seconds": 0.1 * i,
            "content": 1.0 + i,
            "style": 100.0 / (i + 1),
            "tv": 0.0,
            "total": 1.0 + i + 100.0 / (i + 1),
            "style:relu1_1": 60.0 / (i + 1),
            "style:relu2_1": 40.0 / (i + 1),
        }
        for i in range(n)
    ]
    return History(("relu1_1", "relu2_1"), rows)


def _frames(sizes=((16, 24),) * 4):
    rng = np.random.default_rng(0)
    return [(10 * i, rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)) for i, (h, w) in enumerate(sizes)]


def test_loss_curves_plots_weighted_costs_on_log_axes(tmp_path):
    cfg = preset("gatys", alpha=2.0, beta=0.5)
    fig = plots.loss_curves(_history(), config=cfg)
    ax, ax2 = fig.axes
    assert ax.get_yscale() == "log" and ax2.get_yscale() == "log"
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_allclose(lines["α·J_content"], 2.0 * _history().column("content"))
    np.testing.assert_allclose(lines["β·J_style"], 0.5 * _history().column("style"))
    assert [line.get_label() for line in ax2.get_lines()] == ["relu1_1", "relu2_1"]
    path = plots.save_figure(fig, tmp_path / "losses.png")
    assert Image.open(path).size[0] > 500


def test_grid_and_comparison():
    image = torch.rand(1, 3, 8, 12)
    fig = plots.grid([image, image, image, image], ["a", "b", "c", "d"], ncols=2)
    assert len(fig.axes) == 4 and fig.axes[3].get_title() == "d"
    fig = plots.comparison(image, image, image)
    assert [ax.get_title() for ax in fig.axes] == ["content C", "style S", "generated G"]
    with pytest.raises(ValueError, match="at least one image"):
        plots.grid([])


def test_gram_heatmap_and_feature_maps():
    a = torch.rand(1, 8, 5, 5)
    A = a.reshape(8, 25)
    fig = plots.gram_heatmap([A @ A.T], ["G"])
    assert fig.axes[0].get_title() == "G"
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), (A @ A.T).numpy(), rtol=1e-6)
    fig = plots.feature_maps(a, channels=(0, 3), title="relu1_1")
    assert [ax.get_title() for ax in fig.axes] == ["relu1_1 ch 0", "relu1_1 ch 3"]
    with pytest.raises(ValueError, match=r"\(1, n_C, n_H, n_W\), got \(8, 5, 5\)"):
        plots.feature_maps(a[0])


def test_gif_has_every_frame_at_the_last_frame_size(tmp_path):
    frames = _frames(((8, 12), (8, 12), (16, 24), (16, 24)))  # a coarse-to-fine run
    path = animation.save_gif(frames, tmp_path / "p.gif")
    gif = Image.open(path)
    assert gif.size == (24, 16)
    assert gif.n_frames == 4
    assert gif.info.get("loop") == 0
    gif.seek(3)
    np.testing.assert_array_equal(np.asarray(gif.convert("RGB")).shape, (16, 24, 3))


def test_gif_max_side_shrinks():
    data = animation.gif_bytes(_frames(((40, 80),) * 2), max_side=20)
    import io

    assert Image.open(io.BytesIO(data)).size == (20, 10)


def test_mp4_frames_read_back(tmp_path):
    import imageio.v2 as imageio

    frames = _frames(((15, 21),) * 6)  # odd sides get padded to even
    path = animation.save_mp4(frames, tmp_path / "p.mp4", fps=5)

    reader = imageio.get_reader(path, format="FFMPEG")
    count = sum(1 for _ in reader)
    reader.close()
    assert count == 6
    assert path.stat().st_size > 0


def test_filmstrip_picks_evenly_spaced_frames():
    frames = _frames(((4, 4),) * 10)
    fig = animation.filmstrip(frames, n=4)
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 30", "step 60", "step 90"]
    with pytest.raises(ValueError, match="no frames"):
        animation.filmstrip([])


def test_no_frames_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no frames to animate"):
        animation.save_gif([], tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


def test_frame_changes_is_the_mean_absolute_change_in_unit_pixels():
    a = np.zeros((2, 3, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # one value of 18 changes by the full range
    c = b.copy()
    c[1, 2, :] = 51  # three more values change by 0.2
    changes = animation.frame_changes([(0, a), (5, b), (10, c)])
    assert changes.shape == (2,) and changes.dtype == np.float64
    np.testing.assert_allclose(changes, [1 / 18, 3 * 0.2 / 18])
    # uint8 wrap-around would make 0 − 255 equal 1: the order of the frames must not matter
    np.testing.assert_allclose(animation.frame_changes([(0, b), (5, a)]), [1 / 18])


def test_frame_changes_resizes_to_the_last_frame_and_needs_two_frames():
    small, big = np.full((4, 6, 3), 100, np.uint8), np.full((8, 12, 3), 110, np.uint8)
    np.testing.assert_allclose(animation.frame_changes([(0, small), (1, big)]), [10 / 255])
    with pytest.raises(ValueError, match="at least 2 frames"):
        animation.frame_changes([(0, big)])
