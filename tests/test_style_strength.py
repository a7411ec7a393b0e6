"""beta=None: β = s·α / J_style(S, C) from style_strength s, so the style term at G = C is s·α on every pair."""

import pytest
import torch

import nst_edu
from nst_edu.core import images, transfer
from nst_edu.core.config import preset

TINY = dict(size=64, steps=3, frame_every=0, precision="float32", tv_weight=0.0)


def objective(C, S, **changes):
    config = preset("gatys", **{**TINY, **changes})
    return transfer.Objective(transfer.build_model(config), C, S, config), config


@pytest.mark.parametrize("style", ["swirls", "stained_glass", "waves"])
def test_the_style_term_at_the_content_image_is_strength_times_alpha(tiny_pair, style):
    C, _ = tiny_pair
    S = images.load_image(style, size=64)
    obj, config = objective(C, S, beta=None, style_strength=7.0, alpha=3.0)
    with torch.no_grad():
        values = obj(C)
    assert float(values["content"]) == 0.0
    torch.testing.assert_close(float(values["total"]), 7.0 * 3.0, rtol=1e-5, atol=0)
    assert obj.beta == pytest.approx(7.0 * 3.0 / float(values["style"]), rel=1e-6)


def test_beta_differs_between_pairs_but_the_strength_means_the_same(tiny_pair):
    C, S = tiny_pair
    glass = images.load_image("stained_glass", size=64)
    a, _ = objective(C, S, beta=None, style_strength=10.0)
    b, _ = objective(C, glass, beta=None, style_strength=10.0)
    assert abs(a.beta / b.beta - 1) > 0.05  # the pairs are at different style distances
    with torch.no_grad():
        assert float(a(C)["total"]) == pytest.approx(float(b(C)["total"]), rel=1e-5)


def test_a_number_for_beta_is_used_as_it_is(tiny_pair):
    obj, config = objective(*tiny_pair, beta=2.5, style_strength=7.0)
    assert obj.beta == 2.5


def test_beta_none_needs_a_strength():
    with pytest.raises(ValueError, match="give a beta or a style_strength > 0"):
        preset("gatys", beta=None, style_strength=0.0)


def test_a_content_image_that_is_the_style_image_is_refused(tiny_pair):
    _, S = tiny_pair
    with pytest.raises(ValueError, match="style_strength needs a content image whose style differs"):
        objective(S, S, beta=None, style_strength=1.0)


def test_run_reports_the_beta_it_used(tiny_pair):
    result = nst_edu.run(*tiny_pair, preset("fast", **TINY, beta=None, style_strength=5.0), progress=False)
    assert result.beta > 0 and result.metadata()["beta"] == pytest.approx(result.beta)
    h = result.history
    J = h.column("content") + result.beta * h.column("style")
    torch.testing.assert_close(torch.tensor(h.column("total")), torch.tensor(J), rtol=1e-5, atol=0)


@pytest.mark.parametrize("bad", [-1.0, float("inf"), "strong", True])
def test_bad_strengths_are_refused(bad):
    with pytest.raises(ValueError, match="style_strength"):
        preset("fast", style_strength=bad)


def test_the_command_line_refuses_beta_and_strength_together(tmp_path, capsys):
    from nst_edu import cli

    code = cli.main(
        [
            "--content",
            "chelsea",
            "--style",
            "swirls",
            "--out",
            str(tmp_path / "o"),
            "--beta",
            "10",
            "--style-strength",
            "20",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == (
        "nst-edu: Give either --beta (a fixed β) or --style-strength (β chosen for the pair), not both."
    )
    assert not (tmp_path / "o").exists()


def test_the_command_line_strength_means_beta_none():
    from nst_edu import cli

    args = cli.build_parser().parse_args(["--content", "c", "--style", "s", "--style-strength", "40"])
    config = cli.config_from_args(args)
    assert config.beta is None and config.style_strength == 40.0
    args = cli.build_parser().parse_args(["--content", "c", "--style", "s", "--beta", "3"])
    assert cli.config_from_args(args).beta == 3.0
