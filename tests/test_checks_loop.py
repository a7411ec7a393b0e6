"""The exercise checks of lesson 04 (the loop by hand): the solution passes and reproduces ``nst_edu.run``;
the stub says "not attempted"; each plausible wrong loop (no zero_grad, no clamp, targets with a graph, an
unfrozen network, step before backward, no closure …) fails with its reason, and the checks never raise."""

import pytest
import torch
from conftest import load_solution, stub

import nst_edu
from nst_edu.core import noise, transfer
from nst_edu.core.optim import BoxLBFGS
from nst_edu.teaching import checks

L04 = load_solution("lesson04_the_loop")
compute_targets, train_step, closure_step = L04.compute_targets, L04.train_step, L04.closure_step
_J = L04._total_cost


# ---- wrong targets ----------------------------------------------------------------------------------


def _targets(model, C, S, config, rescale=True, inverse=False):
    a_C = model(C, config.layers)
    grams = {}
    for layer, a in model(S, [name for name, _ in config.style_layers]).items():
        M_S, M_G = a.shape[-2] * a.shape[-1], a_C[layer].shape[-2] * a_C[layer].shape[-1]
        factor = (M_S / M_G if inverse else M_G / M_S) if rescale else 1.0
        grams[layer] = nst_edu.core.costs.gram_matrix(nst_edu.core.costs.unroll(a)) * factor
    return a_C[config.content_layer], grams


def targets_tracked(model, C, S, config):
    return _targets(model, C, S, config)  # neither frozen nor under no_grad: a graph into the weights


def targets_not_frozen(model, C, S, config):
    model.eval()
    with torch.no_grad():
        return _targets(model, C, S, config)


def targets_not_eval(model, C, S, config):
    model.requires_grad_(False)
    with torch.no_grad():
        return _targets(model, C, S, config)


def targets_frozen_only(model, C, S, config):
    # Freezing first is enough: nothing that requires grad is left, so no graph is recorded.
    model.requires_grad_(False).eval()
    return _targets(model, C, S, config)


def targets_not_rescaled(model, C, S, config):
    model.requires_grad_(False).eval()
    with torch.no_grad():
        return _targets(model, C, S, config, rescale=False)


def targets_inverse(model, C, S, config):
    model.requires_grad_(False).eval()
    with torch.no_grad():
        return _targets(model, C, S, config, inverse=True)


def targets_activations(model, C, S, config):
    model.requires_grad_(False).eval()
    with torch.no_grad():
        a_C = model(C, config.layers)
        return a_C[config.content_layer], model(S, [name for name, _ in config.style_layers])


def targets_all_layers(model, C, S, config):
    model.requires_grad_(False).eval()
    with torch.no_grad():
        return model(C, config.layers), _targets(model, C, S, config)[1]


# ---- wrong Adam steps -------------------------------------------------------------------------------


def step_no_zero_grad(G, optimizer, model, targets, config):
    J = _J(G, model, targets, config)
    J.backward()
    optimizer.step()
    with torch.no_grad():
        G.clamp_(0, 1)
    return J.detach()


def step_no_clamp(G, optimizer, model, targets, config):
    optimizer.zero_grad()
    J = _J(G, model, targets, config)
    J.backward()
    optimizer.step()
    return J.detach()


def step_clamp_not_in_place(G, optimizer, model, targets, config):
    optimizer.zero_grad()
    J = _J(G, model, targets, config)
    J.backward()
    optimizer.step()
    G = G.detach().clamp(0, 1)  # a new tensor: the caller's G (the optimizer's) is not clamped
    return J.detach()


def step_clamp_with_grad(G, optimizer, model, targets, config):
    optimizer.zero_grad()
    J = _J(G, model, targets, config)
    J.backward()
    optimizer.step()
    G.clamp_(0, 1)  # outside torch.no_grad(): autograd refuses an in-place change of a leaf
    return J.detach()


def step_before_backward(G, optimizer, model, targets, config):
    optimizer.zero_grad()
    J = _J(G, model, targets, config)
    optimizer.step()
    J.backward()
    with torch.no_grad():
        G.clamp_(0, 1)
    return J.detach()


def step_never(G, optimizer, model, targets, config):
    optimizer.zero_grad()
    J = _J(G, model, targets, config)
    J.backward()
    return J.detach()


def step_returns_none(G, optimizer, model, targets, config):
    train_step(G, optimizer, model, targets, config)


def step_swapped_weights(G, optimizer, model, targets, config):
    return train_step(G, optimizer, model, targets, config.replace(alpha=config.beta, beta=config.alpha))


def step_returns_float(G, optimizer, model, targets, config):
    return float(train_step(G, optimizer, model, targets, config))  # a number is a fine answer


def step_returns_attached(G, optimizer, model, targets, config):
    optimizer.zero_grad()
    J = _J(G, model, targets, config)
    J.backward()
    optimizer.step()
    with torch.no_grad():
        G.clamp_(0, 1)
    return J  # still attached to its (freed) graph: harmless, accepted


# ---- wrong closure steps ----------------------------------------------------------------------------


def closure_no_zero_grad(G, optimizer, model, targets, config):
    def closure():
        J = _J(G, model, targets, config)
        J.backward()
        return J

    J = optimizer.step(closure)
    with torch.no_grad():
        G.clamp_(0, 1)
    return J.detach()


def closure_no_backward(G, optimizer, model, targets, config):
    def closure():
        optimizer.zero_grad()
        return _J(G, model, targets, config)

    J = optimizer.step(closure)
    with torch.no_grad():
        G.clamp_(0, 1)
    return J.detach()


def closure_missing(G, optimizer, model, targets, config):
    optimizer.zero_grad()
    J = _J(G, model, targets, config)
    J.backward()
    optimizer.step()  # fine for Adam, but L-BFGS needs the closure
    with torch.no_grad():
        G.clamp_(0, 1)
    return J.detach()


def closure_no_clamp(G, optimizer, model, targets, config):
    def closure():
        optimizer.zero_grad()
        J = _J(G, model, targets, config)
        J.backward()
        return J

    return optimizer.step(closure).detach()  # BoxLBFGS keeps G in [0, 1] itself; Adam does not


# ---- the tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check, fn, name",
    [
        (checks.check_compute_targets, compute_targets, "compute_targets"),
        (checks.check_compute_targets, targets_frozen_only, "compute_targets"),
        (checks.check_train_step, train_step, "train_step"),
        (checks.check_train_step, step_returns_float, "train_step"),
        (checks.check_train_step, step_returns_attached, "train_step"),
        (checks.check_closure_step, closure_step, "closure_step"),
    ],
)
def test_solutions_pass(check, fn, name, capsys):
    result = check(fn)
    assert result.passed, result.message
    assert capsys.readouterr().out.startswith(f"✓ correct: {name}")


@pytest.mark.parametrize(
    "check", [checks.check_compute_targets, checks.check_train_step, checks.check_closure_step]
)
def test_stub_is_not_attempted(check, capsys):
    result = check(stub)
    assert not result.passed
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check, wrong, says",
    [
        (checks.check_compute_targets, targets_tracked, "the targets were computed with gradient tracking"),
        (checks.check_compute_targets, targets_not_frozen, "the network is not frozen"),
        (checks.check_compute_targets, targets_not_eval, "model.eval()"),
        (checks.check_compute_targets, targets_not_rescaled, "rescale it by M_G / M_S"),
        (checks.check_compute_targets, targets_inverse, "rescaled by M_S / M_G"),
        (checks.check_compute_targets, targets_activations, "is it the activation"),
        (checks.check_compute_targets, targets_all_layers, "expected a_C"),
        (checks.check_train_step, step_no_zero_grad, "optimizer.zero_grad()"),
        (checks.check_train_step, step_no_clamp, "clamp it in place"),
        (checks.check_train_step, step_clamp_not_in_place, "clamp it in place"),
        (checks.check_train_step, step_clamp_with_grad, "inside `with torch.no_grad():`"),
        (checks.check_train_step, step_before_backward, "call optimizer.step() after J.backward()"),
        (checks.check_train_step, step_never, "G did not change at step 1"),
        (checks.check_train_step, step_returns_none, "returned None"),
        (checks.check_train_step, step_swapped_weights, "the total cost of G before the step"),
        (checks.check_closure_step, closure_no_zero_grad, "optimizer.zero_grad()"),
        (checks.check_closure_step, closure_no_backward, "must call J.backward()"),
        (checks.check_closure_step, closure_missing, "optimizer.step(closure)"),
        (checks.check_closure_step, closure_no_clamp, "clamp it in place"),
    ],
)
def test_wrong_answers_fail_with_a_reason(check, wrong, says, capsys):
    result = check(wrong)
    assert not result.passed
    out = capsys.readouterr().out
    assert out.startswith("✗") and says in out, out


def test_targets_with_a_graph_break_the_second_step(capsys):
    # The consequence the message names, measured: the second backward runs into the freed graph of a_C.
    message = checks.check_compute_targets(targets_tracked).message
    assert "step 2 of the loop failed with RuntimeError" in message
    message = checks.check_compute_targets(targets_not_frozen).message
    assert "weight tensors of the network had a .grad" in message
    capsys.readouterr()


def test_checks_print_the_same_message_every_run(capsys):
    # The notebook commits these lines as outputs: they must not change between runs.
    for check, fn in (
        (checks.check_compute_targets, targets_tracked),
        (checks.check_train_step, step_no_zero_grad),
        (checks.check_closure_step, closure_no_zero_grad),
        (checks.check_train_step, train_step),
    ):
        assert check(fn).message == check(fn).message
    capsys.readouterr()


# ---- the solution's loop is nst_edu.run's ---------------------------------------------------------------


@pytest.mark.parametrize("optimizer, lr, step", [("adam", 0.02, train_step), ("lbfgs", 1.0, closure_step)])
def test_the_solution_loop_reproduces_run(optimizer, lr, step):
    # Small and fast: random VGG weights, 32 px, three style layers of another size than G (M_G / M_S ≠ 1).
    config = nst_edu.Config(
        content_layer="relu3_1",
        style_layers=(("relu1_1", 0.4), ("relu2_1", 0.3), ("relu3_1", 0.3)),
        weights="random",
        alpha=1.0,
        beta=1e-3,
        optimizer=optimizer,
        lr=lr,
        steps=4,
        init="additive",
        noise_ratio=0.25,
        size=32,
        style_scale=1.5,
        frame_every=0,
        device="cpu",
    )
    result = nst_edu.run("chelsea", "swirls", config, progress=False)

    torch.manual_seed(config.seed)
    C, S = transfer.load_pair("chelsea", "swirls", config)
    assert C.shape[-2:] != S.shape[-2:]
    model = transfer.build_model(config)
    targets = compute_targets(model, C, S, config)
    G0 = noise.initial_image(C, config.init, config.noise_ratio, config.seed, S=S)
    G = G0.clamp(0, 1).requires_grad_(True)
    opt = (
        torch.optim.Adam([G], lr=lr)
        if optimizer == "adam"
        else BoxLBFGS(G, lr=lr, history_size=config.history_size, precondition=config.precondition)
    )
    Js = [float(step(G, opt, model, targets, config)) for _ in range(config.steps)]
    # The same code path on the same CPU: equal to float32 rounding (in practice bit for bit).
    assert torch.allclose(G.detach(), result.image, rtol=0, atol=1e-5)
    assert Js == pytest.approx(list(result.history.column("total")[:-1]), rel=1e-5)
