"""Exact and iterative linear algebra: the digital twins of the crossbar solvers and 002's pseudoinverse rules.

* Exact answers (torch.linalg, float64): :func:`exact_solve`, :func:`exact_lstsq`, :func:`exact_pinv`, and
  :func:`two_array_lstsq` — what the least-squares circuit computes when its two arrays hold slightly
  different (perturbed) copies of X: ``X₂ᵀ X₁ w = X₂ᵀ y``.
* Ben-Israel–Cohen (002 §3, Ben-Israel & Cohen 1966): ``X ← 2X − X A X`` from ``X₀ = α Aᵀ``,
  ``0 < α < 2/σ_max²``; converges quadratically to ``A⁺`` (the residual ``A⁺A − X A`` squares each step).
* Recirculation "sleep" rule (002 §3, A.3): two matrices U (hidden→input) and V (input→hidden) learn to
  be each other's pseudoinverse from zero-mean noise. Batched over many initialisations.

About A.3's update as printed: ``U ← λU + (1−λ)(U − UVU)`` equals ``U − (1−λ)·UVU``, whose fixed points
satisfy ``UVU = 0`` — not a pseudoinverse pair. §3 derives ``ΔU = U − UVU`` as the Ben-Israel–Cohen
increment (``X_{t+1} − X_t = X_t − X_t A X_t``), so the evident intent is the *damped* Ben-Israel–Cohen
step implemented here::

    U ← λU + (1−λ)(2U − UVU) = U + η (U − UVU),     V ← V + η (V − VUV),     η = 1 − λ

(λ = 0.9 in A.3, so η = 0.1). Fixed points satisfy ``UVU = U`` and ``VUV = V``: for full-rank square
matrices, ``V = U⁻¹ = U⁺``.

Convergence condition checked up front (:func:`recirculation_condition`): for square matrices the product
``M = VU`` evolves on its own, ``M ← M (I + η(I − M))²`` (U and V updated simultaneously). For an
eigenvalue ``μ = 1 − e`` this maps ``e ← e·((1−2η) + (2η−η²) e + η² e²)``; when ``|e| < 1`` and
``0 < η ≤ 1/2`` the factor has modulus below 1 and decreasing with |e|, so every eigenvalue reaches 1 and
``VU → I``. The condition is therefore **ρ(I − V₀U₀) < 1** (spectral radius). It is sufficient, not
necessary: inits outside it may still converge, and the toolkit reports both fractions. The noise-driven
rule replaces ``E[yyᵀ]/σ² = I`` by a finite-sample estimate ``C``, ``ΔU = η (U − UVU) C``; its fixed points
are the same (ΔU = 0 whenever UVU = U, whatever C), so it converges to the exact pair, not to a noisy one.

Every function is batched over a leading dimension and vectorized; nothing here imports the SPICE layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError

DTYPE = torch.float64


# ------------------------------------------------------------------------------------------- checks
def as_tensor(value, name: str) -> torch.Tensor:
    """``value`` as a float64 tensor; a non-finite entry is a :class:`ConfigError` naming its position."""
    t = torch.as_tensor(value, dtype=DTYPE)
    bad = torch.nonzero(~torch.isfinite(t))
    if bad.numel():
        pos = tuple(int(i) for i in bad[0])
        raise ConfigError(f"{name} has a non-finite entry {t[pos].item()} at {pos}")
    return t


def condition_number(matrix: torch.Tensor) -> torch.Tensor:
    """2-norm condition number ``σ_max/σ_min`` (inf for rank-deficient), batched over leading dims."""
    s = torch.linalg.svdvals(matrix)
    return torch.where(s[..., -1] > 0, s[..., 0] / s[..., -1].clamp_min(torch.finfo(DTYPE).tiny),
                       torch.full_like(s[..., 0], math.inf))


def _check_full_rank(a: torch.Tensor, name: str, max_condition: float) -> None:
    s = torch.linalg.svdvals(a)
    tol = s[0] * max(a.shape) * torch.finfo(DTYPE).eps
    rank = int((s > tol).sum())
    cond = (s[0] / s[-1]).item() if s[-1] > 0 else math.inf
    if rank < a.shape[-1]:
        raise ConfigError(f"{name} is singular / rank-deficient: rank {rank} < {a.shape[-1]} (condition number {cond:.3g})")
    if not cond <= max_condition:
        raise ConfigError(f"{name} is ill-conditioned: condition number {cond:.3g} exceeds max_condition = {max_condition:.3g}")


# ------------------------------------------------------------------------------------------- exact
def exact_solve(a, b, *, max_condition: float = 1e12) -> torch.Tensor:
    """``A⁻¹ b`` by LU (torch.linalg.solve); ``b`` may be a vector or a matrix of right-hand sides."""
    a, b = as_tensor(a, "A"), as_tensor(b, "b")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ConfigError(f"A must be square, got shape {tuple(a.shape)}")
    _check_full_rank(a, "A", max_condition)
    return torch.linalg.solve(a, b)


def exact_lstsq(x, y, *, max_condition: float = 1e12) -> torch.Tensor:
    """``argmin_w ‖X w − y‖₂`` for full-column-rank X (torch.linalg.lstsq, QR-based ``gelsy``)."""
    x, y = as_tensor(x, "X"), as_tensor(y, "y")
    if x.ndim != 2:
        raise ConfigError(f"X must be 2-D, got shape {tuple(x.shape)}")
    _check_full_rank(x, "X", max_condition)
    rhs = y.unsqueeze(-1) if y.ndim == 1 else y
    w = torch.linalg.lstsq(x, rhs, driver="gelsd").solution
    return w.squeeze(-1) if y.ndim == 1 else w


def exact_pinv(a) -> torch.Tensor:
    """Moore–Penrose pseudoinverse by SVD (torch.linalg.pinv), batched."""
    return torch.linalg.pinv(as_tensor(a, "A"))


def two_array_lstsq(x_forward, x_transposed, y) -> torch.Tensor:
    """The least-squares circuit's answer when its arrays hold different copies of X: ``X₂ᵀ X₁ w = X₂ᵀ y``.

    ``x_forward`` is the (perturbed) matrix of the first array pair, ``x_transposed`` that of the second
    pair read as its transpose; both m×n. ``y`` may be a vector or an m×k matrix (e.g. the identity for
    the pseudoinverse circuit).
    """
    x1, x2, y = as_tensor(x_forward, "X₁"), as_tensor(x_transposed, "X₂"), as_tensor(y, "y")
    return exact_solve(x2.T @ x1, x2.T @ y)


# ----------------------------------------------------------------------------------- Ben-Israel–Cohen
def bic_initial(a: torch.Tensor, alpha_fraction: float = 1.0) -> torch.Tensor:
    """A valid Ben-Israel–Cohen start ``X₀ = α Aᵀ`` with ``α = alpha_fraction / σ_max²`` (needs
    ``0 < alpha_fraction < 2``); ``X₀ A`` is then symmetric, as the theorem requires (002 §3)."""
    if not 0 < alpha_fraction < 2:
        raise ConfigError(f"alpha_fraction must be in (0, 2) for convergence, got {alpha_fraction}")
    smax = torch.linalg.matrix_norm(a, ord=2)
    return (alpha_fraction / smax**2)[..., None, None] * a.transpose(-1, -2)


def ben_israel_cohen(a, steps: int, *, x0=None, damping: float = 1.0) -> torch.Tensor:
    """Iterates of ``X ← X + damping·(X − X A X)`` (damping 1: ``X ← 2X − XAX``), batched.

    Returns a tensor of shape ``(steps + 1, *X.shape)`` holding ``X₀ … X_steps``. ``x0`` defaults to
    :func:`bic_initial`. Non-finite iterates (a start outside the basin) raise :class:`ConfigError`.
    """
    a = as_tensor(a, "A")
    if not (isinstance(steps, int) and steps >= 0):
        raise ConfigError(f"steps must be an integer ≥ 0, got {steps!r}")
    if not 0 < damping <= 1:
        raise ConfigError(f"damping must be in (0, 1], got {damping}")
    x = bic_initial(a) if x0 is None else as_tensor(x0, "X0")
    out = [x]
    for _ in range(steps):
        x = x + damping * (x - x @ a @ x)
        out.append(x)
    result = torch.stack(out)
    if not torch.isfinite(result).all():
        raise ConfigError("Ben-Israel–Cohen iteration diverged: the start X0 is outside the basin "
                          "(use X0 = α Aᵀ with 0 < α < 2/σ_max², which makes X0 A symmetric)")
    return result


# --------------------------------------------------------------------------------------- Recirculation
def recirculation_inits(n: int, count: int, *, max_condition: float = 20.0, seed: int = 0,
                        amplitude: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` pairs ``U₀ = I − E_U``, ``V₀ = I − E_V``, ``E ~ U[−a, a]`` n×n with ``a = amplitude``, keeping
    only pairs whose matrices both have condition number ≤ ``max_condition`` (002 A.3: 10×10, a = 1,
    cond < 20). Seeded."""
    if n < 1 or count < 1:
        raise ConfigError(f"n and count must be ≥ 1, got n={n}, count={count}")
    gen = torch.Generator().manual_seed(seed)
    eye = torch.eye(n, dtype=DTYPE)
    kept_u, kept_v, have = [], [], 0
    for _ in range(1000):
        batch = max(4 * (count - have), 16)
        e = (torch.rand((2, batch, n, n), generator=gen, dtype=DTYPE) * 2 - 1) * amplitude
        u, v = eye - e[0], eye - e[1]
        ok = (condition_number(u) <= max_condition) & (condition_number(v) <= max_condition)
        kept_u.append(u[ok]); kept_v.append(v[ok]); have += int(ok.sum())
        if have >= count:
            return torch.cat(kept_u)[:count], torch.cat(kept_v)[:count]
    raise ConfigError(f"could not draw {count} inits with condition number ≤ {max_condition} (n = {n}); raise it")


def recirculation_condition(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Spectral radius ``ρ(I − V U)`` per pair: below 1 guarantees convergence of the damped rule (η ≤ ½)."""
    eye = torch.eye(u.shape[-1], dtype=u.dtype)
    return torch.linalg.eigvals(eye - v @ u).abs().amax(-1)


def recirculation_basin(u: torch.Tensor, v: torch.Tensor, *, decay: float = 0.9, steps: int = 4000,
                        tol: float = 1e-9) -> torch.Tensor:
    """Exact convergence test of the expected rule, per pair: every eigenvalue ``μ`` of ``V₀U₀`` must lie in
    the basin of attraction of 1 of the scalar map ``μ ← μ (1 + η(1 − μ))²`` (η = 1 − λ), which ``M = VU``
    obeys eigenvalue by eigenvalue (module docstring). Iterates that map on the spectrum for ``steps``
    steps and asks ``|μ − 1| < tol``; the sufficient disc ρ(I − V₀U₀) < 1 lies inside this basin."""
    eta = 1.0 - decay
    mu = torch.linalg.eigvals(v @ u)
    for _ in range(steps):
        mu = mu * (1 + eta * (1 - mu)) ** 2
        # Escaped values are parked at 0 + 0j (a repelling fixed point) instead of overflowing.
        mu = torch.where(mu.abs() < 1e6, mu, torch.zeros_like(mu))
    return ((mu - 1).abs() < tol).all(-1)


def mutual_pinv_errors(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``‖pinv(U) − V‖_F`` and ``‖pinv(V) − U‖_F`` per pair (002 Fig. 1A); inf where non-finite."""
    finite = torch.isfinite(u).flatten(-2).all(-1) & torch.isfinite(v).flatten(-2).all(-1)
    us = torch.where(finite[..., None, None], u, torch.zeros_like(u))
    vs = torch.where(finite[..., None, None], v, torch.zeros_like(v))
    e1 = torch.linalg.matrix_norm(torch.linalg.pinv(us) - vs)
    e2 = torch.linalg.matrix_norm(torch.linalg.pinv(vs) - us)
    inf = torch.full_like(e1, math.inf)
    return torch.where(finite, e1, inf), torch.where(finite, e2, inf)


@dataclass(frozen=True)
class RecirculationResult:
    """Trajectory of a batched Recirculation run.

    ``steps``: iteration index of each record; ``err_u``/``err_v``: ``‖pinv(U) − V‖_F`` / ``‖pinv(V) − U‖_F``
    with shape ``(len(steps), batch)``; ``rho0``: ρ(I − V₀U₀) per init; ``u``/``v``: final matrices;
    ``basin``: the exact up-front test :func:`recirculation_basin` per init;
    ``diverged``: inits whose entries left ``[−divergence_limit, divergence_limit]`` (frozen from then on).
    """

    steps: torch.Tensor
    err_u: torch.Tensor
    err_v: torch.Tensor
    rho0: torch.Tensor
    basin: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor
    diverged: torch.Tensor

    @property
    def condition_met(self) -> torch.Tensor:
        """The condition checked up front: every eigenvalue of V₀U₀ in the basin of attraction of 1."""
        return self.basin

    @property
    def disc_condition_met(self) -> torch.Tensor:
        """The simpler sufficient condition ρ(I − V₀U₀) < 1."""
        return self.rho0 < 1.0

    def converged(self, tol: float = 1e-3) -> torch.Tensor:
        return (self.err_u[-1] < tol) & (self.err_v[-1] < tol)


def recirculation(
    u0,
    v0,
    steps: int,
    *,
    decay: float = 0.9,
    noise_samples: int | None = None,
    sigma: float = 1.0,
    seed: int = 0,
    record_every: int = 10,
    divergence_limit: float = 1e6,
) -> RecirculationResult:
    """Run 002's sleep rule on batched pairs ``(U, V)`` (shape ``(batch, n, n)`` or ``(n, n)``).

    ``noise_samples=None`` uses the expectation (the damped Ben-Israel–Cohen step of the module docstring);
    an integer ``K`` estimates each update from ``K`` zero-mean Gaussian inputs of std ``sigma`` (§3):
    ``h = U y``, ``ŷ = V h``, ``ĥ = U ŷ``, ``ΔU = η/(σ² K) Σ (h − ĥ) yᵀ``, and symmetrically for V with
    its own noise ``z`` on the other layer (a fresh batch of noise every step). ``decay`` is A.3's λ (η = 1 − λ).
    """
    u, v = as_tensor(u0, "U0"), as_tensor(v0, "V0")
    if u.ndim == 2:
        u, v = u[None], v[None]
    if u.shape != v.shape or u.shape[-1] != u.shape[-2]:
        raise ConfigError(f"U0 and V0 must be square and of equal shape, got {tuple(u.shape)} and {tuple(v.shape)}")
    if not 0.5 <= decay < 1:
        raise ConfigError(f"decay λ must be in [0.5, 1) (step η = 1 − λ ≤ ½ keeps the rule contractive), got {decay}")
    if noise_samples is not None and not (isinstance(noise_samples, int) and noise_samples >= 1):
        raise ConfigError(f"noise_samples must be a positive integer or None, got {noise_samples!r}")
    if not sigma > 0:
        raise ConfigError(f"noise sigma must be > 0, got {sigma}")
    if not (isinstance(record_every, int) and record_every >= 1):
        raise ConfigError(f"record_every must be a positive integer, got {record_every!r}")
    eta = 1.0 - decay
    batch, n, _ = u.shape
    rho0 = recirculation_condition(u, v)
    basin = recirculation_basin(u, v, decay=decay, steps=max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    alive = torch.ones(batch, dtype=torch.bool)
    rec_steps, rec_u, rec_v = [], [], []

    def record(t: int) -> None:
        eu, ev = mutual_pinv_errors(u, v)
        rec_steps.append(t); rec_u.append(eu); rec_v.append(ev)

    record(0)
    eye = torch.eye(n, dtype=DTYPE)
    for t in range(1, steps + 1):
        idx = torch.nonzero(alive).squeeze(1)
        if idx.numel() == 0:  # every init diverged: nothing left to update
            record(t)
            break
        ua, va = u[idx], v[idx]
        if noise_samples is None:
            cov_y = cov_z = eye
        else:
            # Σ_k (h_k − ĥ_k) y_kᵀ with h = U y, ĥ = U V U y equals (U − UVU)·(Σ_k y_k y_kᵀ): the same sum,
            # reassociated so each step costs one n×K×n product per layer instead of three.
            y = torch.randn((idx.numel(), n, noise_samples), generator=gen, dtype=DTYPE) * sigma
            z = torch.randn((idx.numel(), n, noise_samples), generator=gen, dtype=DTYPE) * sigma
            scale = 1.0 / (sigma**2 * noise_samples)
            cov_y = y @ y.transpose(-1, -2) * scale
            cov_z = z @ z.transpose(-1, -2) * scale
        du = (ua - ua @ va @ ua) @ cov_y
        dv = (va - va @ ua @ va) @ cov_z
        u = u.index_copy(0, idx, ua + eta * du)
        v = v.index_copy(0, idx, va + eta * dv)
        # A diverging init is frozen (and flagged) before it overflows, so one bad init never poisons the batch.
        ua, va = u[idx], v[idx]
        ok = ((ua.abs().flatten(1).amax(1) <= divergence_limit) & (va.abs().flatten(1).amax(1) <= divergence_limit)
              & torch.isfinite(ua).flatten(1).all(1) & torch.isfinite(va).flatten(1).all(1))
        alive = alive.index_copy(0, idx, ok)
        if t % record_every == 0 or t == steps:
            record(t)
    eu, ev = torch.stack(rec_u), torch.stack(rec_v)
    diverged = ~alive
    return RecirculationResult(steps=torch.tensor(rec_steps), err_u=eu, err_v=ev, rho0=rho0, basin=basin, u=u, v=v,
                               diverged=diverged)
