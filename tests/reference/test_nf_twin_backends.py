"""The NF twin's numpy and PyTorch backends, alone and batched: the same Euler map, the same trajectories."""

import dataclasses

import numpy as np
import pytest

import analogopt.reference.nf_single as nf
from analogopt.reference import twin_kernel
from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.reference.imperfections import LoopImperfections, MatchedTwin
from analogopt.reference.nf_single import (
    NUMPY_MAX_ENTRIES, NFSingleLayerTwin, NFTwinBatch, run_twins, twin_backend,
)

#: numpy's and PyTorch's tanh and matrix products round differently by an ulp; over a few hundred
#: contracting Euler steps that stays at a few ulps of the weights (measured ≤ 5e-16 on these problems)
RTOL = 1e-12


def _problem(activation="tanh", gain=20.0, m=12, n=3, seed=1, **kw):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-2, 2, (m, n - 1)), np.ones((m, 1))], 1)
    y = np.tanh(x @ rng.uniform(-1, 1, n))
    base = dict(x=x, y=y, activation=ActivationSpec(activation, gain=gain), error_gain="x", forward_gain=0.2,
                gamma=1.0, eta=1e-2, iterations=300, leak=False, w0=0.1 * rng.standard_normal(n))
    base.update(kw)
    return NFSingleLayerProblem(**base)


def _mismatched(p, seed):
    """The problem with the four element variations a Monte Carlo sweep draws (analogopt.sweep)."""
    rng = np.random.default_rng(seed)
    m, n = p.n_samples, p.n_weights
    return dataclasses.replace(p, x_forward=p.data_matrix * np.exp(0.02 * rng.standard_normal((m, n))),
                               u_matrix=p.error_matrix * np.exp(0.02 * rng.standard_normal((n, m))),
                               tau_w_s=p.weight_taus_s * np.exp(0.05 * rng.standard_normal(n)),
                               forward_gains=p.weight_gains * (1 + 0.05 * rng.standard_normal(n)))


def _assert_close(a, b):
    scale = max(float(np.max(np.abs(a.weights))), 1e-12)
    assert np.array_equal(a.iteration, b.iteration)
    assert np.max(np.abs(a.weights - b.weights)) <= RTOL * scale
    assert np.max(np.abs(a.loss - b.loss)) <= RTOL * max(float(np.max(a.loss)), 1e-12)


CASES = [
    dict(activation="identity"),
    dict(activation="tanh", error_gain="window", leak=True),
    dict(activation="relu", gain=50.0),
    dict(activation="leaky_relu", gain=50.0, error_gain="window"),
    dict(activation="sign", error_gain="beta_pow", power=3),
    dict(activation="sign", leak=True),
    dict(activation="identity", error_gain="beta_pow", power=3, leak=True),
    dict(activation="staircase", forward_gain=0.05, iterations=400),
    dict(activation="staircase", forward_gain=0.05, error_gain="window", leak=True),
    dict(activation="tanh", integrator="cascade", tau_m_s=5e-5, leak=True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
@pytest.mark.parametrize("mismatch", [False, True], ids=["nominal", "mismatch"])
def test_numpy_and_torch_backends_step_the_same_trajectory(case, mismatch):
    p = _problem(**case)
    if mismatch:
        p = _mismatched(p, 7)
    torch_run = NFSingleLayerTwin(p).run(record_every=7, backend="torch")
    numpy_run = NFSingleLayerTwin(p).run(record_every=7, backend="numpy")
    assert len(numpy_run.iteration) == len(range(0, p.iterations + 1, 7)) + (p.iterations % 7 != 0)
    _assert_close(numpy_run, torch_run)
    assert np.ptp(torch_run.weights[:, 0]) > 1e-3  # the weights move: the comparison is not of constants


def test_a_batch_gives_each_twin_its_trajectory_alone_bit_for_bit(monkeypatch):
    """Nominal (its U a transposed view of x) and mismatched problems of one shape, stepped together,
    settling at different iterations; each equals its own run alone exactly and the torch run closely.
    The compiled steps run in stretches of work (KERNEL_CALL_WORK), shorter in a batch: 50 steps here
    against 300 alone, so no twin's trajectory may depend on where a stretch ends."""
    # from weights that saturate part of the comparators (settling at 480…592)
    base = _problem("staircase", forward_gain=0.05, iterations=1000, m=20, n=2, w0=np.array([1.5, -1.0]))
    problems = [base] + [_mismatched(base, s) for s in range(5)]
    monkeypatch.setattr(nf, "KERNEL_CALL_WORK", 6 * 2 * 3 * 20 * 50)  # twins · n · comparators · m · steps
    batch = NFTwinBatch(problems)
    together = batch.run(record_every=8)
    assert len(set(batch.stepped)) > 1 and max(batch.stepped) < base.iterations  # they drop out one by one
    for p, t in zip(problems, together):
        alone = NFTwinBatch([p]).run(record_every=8)[0]
        assert np.array_equal(t.weights, alone.weights) and np.array_equal(t.loss, alone.loss)
        _assert_close(t, NFSingleLayerTwin(p).run(record_every=8, backend="torch"))
    assert np.all(batch.seconds > 0)


def test_a_settled_twin_stops_stepping_and_its_records_are_exact(monkeypatch):
    """A float64 fixed point of the Euler map repeats forever: stopping there changes no record."""
    p = _problem("staircase", forward_gain=0.05, iterations=1000, m=20, n=2)
    early = NFTwinBatch([p])
    short = early.run(record_every=10)[0]
    monkeypatch.setattr(nf, "SETTLE_CHECK_STEPS", 10**9)  # never checked: every step is taken
    stepped_all = NFTwinBatch([p])
    full = stepped_all.run(record_every=10)[0]
    assert early.stepped[0] < 400 and stepped_all.stepped[0] == p.iterations
    assert np.array_equal(short.weights, full.weights) and np.array_equal(short.loss, full.loss)


@pytest.mark.parametrize("activation,kw", [("staircase", dict(forward_gain=0.05)), ("sign", {}), ("tanh", {})])
def test_comparators_that_start_saturated_come_back_into_the_steps(activation, kw):
    """The compiled steps leave saturated comparators' tanh out until the weights could have brought one
    back: from weights that saturate most arguments to ones that saturate none, the trajectory is still
    the PyTorch twin's, which evaluates every tanh every step."""
    p = _mismatched(_problem(activation, m=30, n=2, iterations=1500, w0=np.array([3.0, -2.5]), **kw), 4)
    steps = np.array([-1.0, 0.0, 1.0]) if activation == "staircase" else np.array([0.0])

    def saturated(w):
        return np.mean(np.abs(20.0 * ((p.data_matrix @ w)[:, None] - steps)) >= twin_kernel.SATURATED)

    compiled = NFTwinBatch([p]).run(record_every=5)[0]
    assert saturated(p.w0) > 0.8 and saturated(compiled.weights[-1]) < 0.4
    _assert_close(compiled, NFSingleLayerTwin(p).run(record_every=5, backend="torch"))


FOLDED = [  # (case, φ of the folded error: True = tanh comparators, False = linear, None = not folded)
    (dict(activation="identity", error_gain="beta_pow", power=3), False),
    (dict(activation="identity"), False),
    (dict(activation="tanh"), True),
    (dict(activation="sign", gain=20.0), True),
    (dict(activation="staircase", forward_gain=0.05), True),
    (dict(activation="staircase", forward_gain=0.05, error_gain="window"), None),
    (dict(activation="relu", gain=50.0), None),
]


@pytest.mark.parametrize("case,fold", FOLDED, ids=lambda c: "-".join(map(str, c.values())) if isinstance(c, dict) else str(c))
def test_the_folded_error_is_the_term_by_term_error(case, fold):
    """U·y − [U … U]·tanh(w·[gXᵀ …] − gc) (and U·y − U·(X·w)), compiled, is Eq. 12's e to a few ulps of its
    terms, at weights all over the comparators' range; the folds are taken exactly where they apply."""
    p = _mismatched(_problem(**case, n=2, m=30), 3)
    par = NFTwinBatch([p])._parameters()
    folded = nf._folded(p, par)
    if fold is None:
        assert folded is None
        return
    kernel, comparators = folded
    assert comparators is fold
    w = np.random.default_rng(0).uniform(-2, 2, (200, 2))
    wide = {k: np.repeat(v, len(w), axis=0) for k, v in par.items()}
    wide_kernel = {k: np.repeat(v, len(w), axis=0) for k, v in kernel.items()}
    e_folded = twin_kernel.errors(wide_kernel["gxt"], wide_kernel["offset"], wide_kernel["uk"], wide_kernel["uy"],
                                  comparators, w)
    e_plain = nf._errors_np(wide, w, p)
    terms = np.abs(p.error_matrix).sum(axis=1) * (3 + np.abs(p.y).max())  # the size of e's summands
    assert np.all(np.abs(e_folded - e_plain) <= 1e-14 * terms)
    assert np.ptp(e_plain) > 1e-2  # the errors vary: the comparison is not of constants


def test_the_backend_follows_the_problem_size_and_subclasses_keep_torch():
    small = _problem()
    large_m = NUMPY_MAX_ENTRIES // 3 + 1
    large = _problem(m=large_m)
    assert twin_backend(small) == "numpy" and twin_backend(large) == "torch"
    matched = MatchedTwin(small, LoopImperfections())
    with pytest.raises(ValueError, match="torch backend only"):
        matched.run(backend="numpy")
    with pytest.raises(ValueError, match="unknown twin backend 'jax'"):
        NFSingleLayerTwin(small).run(backend="jax")
    # auto: the subclass's own step (PyTorch), which with no imperfections is the plain map
    _assert_close(matched.run(record_every=10), NFSingleLayerTwin(small).run(record_every=10, backend="numpy"))


def test_run_twins_batches_each_shape_and_keeps_the_order():
    a, b = _problem(seed=2), _problem("sign", seed=3, n=4)
    large = _problem(m=NUMPY_MAX_ENTRIES // 3 + 1, iterations=20)
    problems = [a, b, _mismatched(a, 1), large]
    trajectories, seconds = run_twins(problems, record_every=5)
    for p, t in zip(problems, trajectories):
        assert np.array_equal(t.weights, NFSingleLayerTwin(p).run(record_every=5).weights)
    assert seconds.shape == (4,) and np.all(seconds > 0)
    with pytest.raises(ValueError, match="batch them separately"):
        NFTwinBatch([a, b])


@pytest.mark.parametrize("activation", ["tanh", "relu"], ids=["compiled", "term-by-term"])
def test_a_passed_deadline_stops_the_numpy_twins(activation):
    """Before the compiled steps' first stretch; at the first record of the term-by-term steps."""
    stopped_at = 0 if activation == "tanh" else 1
    with pytest.raises(TimeoutError, match=f"stopped at iteration {stopped_at} of 300"):
        NFTwinBatch([_problem(activation)]).run(record_every=1, deadline=0.0)


def test_the_compiled_steps_check_the_deadline_between_stretches(monkeypatch):
    """A stretch of steps per call of the kernel, the deadline checked before each: a long run stays
    within reach of its time limit."""
    monkeypatch.setattr(nf, "KERNEL_CALL_WORK", 1)  # the shortest stretch, SETTLE_CHECK_STEPS steps
    checked = []
    monkeypatch.setattr(nf, "_check_deadline", lambda deadline, step, steps: checked.append(step))
    batch = NFTwinBatch([_problem(iterations=100)])
    batch.run(record_every=1, deadline=1e9)
    assert checked == list(range(0, 100, nf.SETTLE_CHECK_STEPS)) and batch.stepped[0] == 100
