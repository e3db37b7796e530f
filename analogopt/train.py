"""Training harness for the learning-rule library: one resolved config → one trained network with
per-epoch train/test accuracy and loss.

Used by ``analogopt train`` (:mod:`analogopt.commands.train`) and by the ``rules_table`` scenarios
(:mod:`analogopt.experiments.rules_table`). Everything is validated in :meth:`TrainConfig.from_dict` before
any data is loaded, so a bad value is one :class:`~analogopt.errors.ConfigError` line.
"""

from __future__ import annotations

import math
import re
import time
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError
from .limits import SizeEstimate
from .values import Table, as_integers

DATASETS = ("mnist5k", "mnist_idx", "digits", "breast_cancer", "iris")
#: ``binary``: how a multi-class data set becomes a two-class one (004 §4's binarised tasks): ``low_high``
#: puts the lower half of the classes against the upper half (MNIST 0–4 against 5–9), ``even_odd`` even
#: labels against odd ones; "" keeps every class.
BINARY_TASKS = ("", "low_high", "even_odd")
OPTIMIZERS = ("sgd", "adam")
#: (features, classes, samples) of each data set, for the memory estimate before any is loaded
DATA_SHAPES = {"mnist5k": (784, 10, 5000), "mnist_idx": (784, 10, 70000), "digits": (64, 10, 1797),
               "breast_cancer": (30, 2, 569), "iris": (4, 3, 150)}
#: The largest learning rate a config may give: far beyond any that trains (0.001–1 here), and small
#: enough for float32 parameters to take one step (1e300 overflowed inside the optimizer).
MAX_LR = 1e3
#: A run whose training loss grows past this multiple of its initial loss diverged, finite or not.
DIVERGENCE_FACTOR = 100.0


@dataclass(frozen=True)
class TrainConfig:
    """A training run. ``hidden`` are the hidden layer sizes (input and output sizes come from the data).

    ``loss="auto"``: ``bce`` with one output unit for two-class data, else ``cross_entropy``.
    ``lr_decay``: the learning rate after ``t`` updates is ``lr / (1 + lr_decay·t)`` (001 §4.1 uses 1e-6).
    ``binary``: one of :data:`BINARY_TASKS`. ``train_limit``: use only the first N training samples (0 = all). ``seed`` sets the weights, the
    feedback matrices and the batch order; ``data_seed`` the train/test split (fixed across rule
    comparisons). ``threads``: torch CPU threads during training (1 is fastest for these small nets
    on a shared machine).
    """

    rule: str = "bp"
    rule_options: dict[str, Any] = field(default_factory=dict)
    data: str = "digits"
    data_dir: str = ""
    binary: str = ""
    test_fraction: float = 0.2
    train_limit: int = 0
    hidden: tuple[int, ...] = (64,)
    activation: str = "tanh"
    negative_slope: float = 0.01
    loss: str = "auto"
    init: str = "xavier_normal"
    mono: bool = False
    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.1
    lr_decay: float = 0.0
    optimizer: str = "sgd"
    momentum: float = 0.0
    seed: int = 0
    data_seed: int = 0
    threads: int = 1

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "train") -> "TrainConfig":
        """Validate ``values`` (unknown keys, types, ranges, rule/activation compatibility) with the strict
        reader of :mod:`analogopt.values`; absent keys take the dataclass defaults. ``where`` is the
        path messages name (``train.epochs: must be an integer ≥ 1, got 0``)."""
        from .reference.nets import ACTIVATION_NAMES, INIT_SCHEMES
        from .reference.rules import LOSSES, RULES

        t = Table(values, where).reject_unknown(cls.__dataclass_fields__)
        d = cls()
        rule = t.choice("rule", d.rule, sorted(RULES))
        cfg = cls(
            rule=rule,
            rule_options=_typed_rule_options(RULES[rule], t.table("rule_options")),
            data=t.choice("data", d.data, DATASETS, what="data set"),
            data_dir=t.string("data_dir", d.data_dir),
            binary=t.choice("binary", d.binary, BINARY_TASKS, what="binary task"),
            test_fraction=t.number("test_fraction", d.test_fraction, above=0, below=1),
            train_limit=t.integer("train_limit", d.train_limit, low=0),
            hidden=layer_sizes(t.raw("hidden", d.hidden), t.path("hidden")),
            activation=t.choice("activation", d.activation, ACTIVATION_NAMES),
            negative_slope=t.number("negative_slope", d.negative_slope),
            loss=t.choice("loss", d.loss, ("auto", *LOSSES)),
            init=t.choice("init", d.init, INIT_SCHEMES),
            mono=t.boolean("mono", d.mono),
            epochs=t.integer("epochs", d.epochs, low=1),
            batch_size=t.integer("batch_size", d.batch_size, low=1),
            lr=t.number("lr", d.lr, positive=True, high=MAX_LR),
            lr_decay=t.number("lr_decay", d.lr_decay, low=0),
            optimizer=t.choice("optimizer", d.optimizer, OPTIMIZERS),
            momentum=t.number("momentum", d.momentum, low=0, below=1),
            seed=t.seed("seed", d.seed),
            data_seed=t.seed("data_seed", d.data_seed),
            threads=t.integer("threads", d.threads, low=1),
        )
        if cfg.data == "mnist_idx" and not cfg.data_dir:
            raise t.error("data_dir", "data 'mnist_idx' needs data_dir, the folder with the MNIST IDX files")
        if cfg.data != "mnist_idx" and cfg.data_dir:  # it would be silently ignored: the data set is shipped
            raise t.error("data_dir", f"data {cfg.data!r} ships with the package; data_dir is read for 'mnist_idx' only")
        if cfg.rule == "mdfa" and not cfg.mono:
            raise t.error("mono", "rule 'mdfa' trains mono-nets; set mono = true (004 Def. 1)")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def layer_sizes(value: Any, name: str) -> tuple[int, ...]:
    """Hidden layer sizes: a list of positive integers, or the ``--arch`` text ``"100,100"`` / ``"100-100"``
    (empty: no hidden layer). ``"10,-3"`` is an error, never ``10-3``."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        parts = text.split(",") if "," in text else text.split("-")
        if not all(re.fullmatch(r"[0-9]+", p.strip()) for p in parts):
            raise ConfigError(f"{name}: layer sizes must be positive integers like 100,100 or 100-100, got {value!r}")
        value = [int(p) for p in parts]
    return tuple(as_integers(value, name, min_len=0, low=1))


def _typed_rule_options(rule_class: type, options: Table) -> dict[str, Any]:
    """``rule_options`` judged by the types the rule's constructor declares (bool, int, float, str), so
    ``fprime = "false"`` is an error instead of true and ``error_bits = 4.5`` is not truncated. Options
    the rule does not declare are passed on for :func:`make_rule` to name."""
    declared: dict[str, Any] = {}
    for klass in reversed(rule_class.__mro__):  # subclasses pass **kw up: collect every __init__'s hints
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            for key, hint in typing.get_type_hints(init).items():
                inner = [a for a in typing.get_args(hint) if a is not type(None)]  # int | None → int
                declared[key] = inner[0] if len(inner) == 1 else hint
    readers = {bool: options.boolean, int: options.integer, float: options.number, str: options.string}
    typed: dict[str, Any] = {}
    for key in options.keys():
        if key == "seed":
            typed[key] = options.seed(key)
        elif declared.get(key) in readers:
            typed[key] = readers[declared[key]](key)
        else:
            typed[key] = options.raw(key)
    return typed


def load_data(cfg: TrainConfig):
    """The config's data as a :class:`~analogopt.data.tabular.Split` (train limited to ``train_limit``)."""
    from .data.tabular import Split, load_tabular

    if cfg.data == "mnist5k":
        from .data.mnist import load_mnist5k

        split = load_mnist5k(test_fraction=cfg.test_fraction, seed=cfg.data_seed)
    elif cfg.data == "mnist_idx":
        from .data.idx import load_mnist_idx

        x_tr, y_tr = load_mnist_idx(cfg.data_dir, kind="train")
        x_te, y_te = load_mnist_idx(cfg.data_dir, kind="test")
        split = Split(x_tr, y_tr, x_te, y_te, tuple(f"px{i}" for i in range(x_tr.shape[1])), tuple(str(i) for i in range(10)))
    else:
        split = load_tabular(cfg.data, test_fraction=cfg.test_fraction, seed=cfg.data_seed)
    if cfg.binary:
        n_classes = len(split.class_names)
        if n_classes < 3:
            raise ConfigError(f"binary = {cfg.binary!r}: data set {cfg.data!r} has {n_classes} classes already")
        relabel = ((lambda y: (y >= (n_classes + 1) // 2).astype(np.int64)) if cfg.binary == "low_high"
                   else (lambda y: (y % 2).astype(np.int64)))
        names = ((f"{split.class_names[0]}-{split.class_names[(n_classes + 1) // 2 - 1]}",
                  f"{split.class_names[(n_classes + 1) // 2]}-{split.class_names[-1]}") if cfg.binary == "low_high"
                 else ("even", "odd"))
        split = Split(split.x_train, relabel(split.y_train), split.x_test, relabel(split.y_test), split.feature_names, names)
    if cfg.train_limit:
        split = Split(split.x_train[: cfg.train_limit], split.y_train[: cfg.train_limit], split.x_test, split.y_test,
                      split.feature_names, split.class_names)
    return split


def size_estimate(cfg: TrainConfig) -> SizeEstimate:
    """The training run's peak memory from its layer widths alone (float32): weights, their gradients,
    feedback matrices and optimizer state (4 copies), and the activations and errors of the whole data
    set, which the accuracy is recorded on (3 copies; a training batch is at most that)."""
    features, classes, samples = DATA_SHAPES[cfg.data]
    widths = [features, *cfg.hidden, 1 if classes == 2 else classes]
    params = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    activations = samples * sum(widths)  # a batch never holds more than the data set
    return SizeEstimate(f"train {cfg.rule} on {cfg.data}, layers {'-'.join(map(str, widths))}",
                        memory_bytes=4.0 * (4 * params + 3 * activations))


def build(cfg: TrainConfig, n_in: int, n_classes: int):
    """Network, resolved loss and rule for ``cfg`` on data with ``n_in`` features and ``n_classes`` classes."""
    from .reference.nets import mlp
    from .reference.rules import make_rule

    loss = cfg.loss
    if loss == "auto":
        loss = "bce" if n_classes == 2 else "cross_entropy"
    n_out = 1 if loss == "bce" else n_classes
    net = mlp([n_in, *cfg.hidden, n_out], cfg.activation, negative_slope=cfg.negative_slope, mono=cfg.mono,
              init=cfg.init, seed=cfg.seed)
    options = dict(cfg.rule_options)
    options.setdefault("seed", cfg.seed + 1000)
    if "loss" in options:
        raise ConfigError("rule_options: set the loss with the top-level 'loss' key")
    rule = make_rule(cfg.rule, net, loss=loss, **options)
    return net, loss, rule


def _accuracy_and_loss(net, x, y, loss: str) -> tuple[float, float]:
    import torch

    from .reference.rules import loss_value

    with torch.no_grad():
        out = net(x)
        value = float(loss_value(out, y, loss))
        pred = (out[:, 0] > 0).long() if loss == "bce" else out.argmax(1)
        return float((pred == y).double().mean()), value


def train(cfg: TrainConfig, progress=None) -> dict[str, Any]:
    """Train and return the history: per-epoch (0 = before training) accuracies and losses, timing."""
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(cfg: TrainConfig, progress=None) -> dict[str, Any]:
    import torch

    from .reference.rules import train_step

    split = load_data(cfg)
    x_tr = torch.as_tensor(np.ascontiguousarray(split.x_train), dtype=torch.float32)
    x_te = torch.as_tensor(np.ascontiguousarray(split.x_test), dtype=torch.float32)
    y_tr = torch.as_tensor(split.y_train, dtype=torch.int64)
    y_te = torch.as_tensor(split.y_test, dtype=torch.int64)
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    net, loss, rule = build(cfg, x_tr.shape[1], n_classes)
    params = [p for p in net.parameters()]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    else:
        opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1.0 + cfg.lr_decay * t)) if cfg.lr_decay else None
    gen = torch.Generator().manual_seed(cfg.seed)
    hist: dict[str, list[float]] = {k: [] for k in ("train_accuracy", "test_accuracy", "train_loss", "test_loss")}

    def record() -> None:
        for part, (x, y) in (("train", (x_tr, y_tr)), ("test", (x_te, y_te))):
            acc, val = _accuracy_and_loss(net, x, y, loss)
            hist[f"{part}_accuracy"].append(acc)
            hist[f"{part}_loss"].append(val)

    record()
    n = x_tr.shape[0]
    steps, diverged, t0 = 0, False, time.perf_counter()
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            value = train_step(rule, opt, x_tr[idx], y_tr[idx])
            if sched is not None:
                sched.step()
            steps += 1
            if not math.isfinite(float(value)) or not all(bool(torch.isfinite(p).all()) for p in params[-2:]):
                diverged = True
                break
        record()
        if progress is not None:
            progress.update((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}")
        first, now = hist["train_loss"][0], hist["train_loss"][-1]
        diverged = diverged or not math.isfinite(now) or now > DIVERGENCE_FACTOR * first
        if diverged:
            break
    elapsed = time.perf_counter() - t0
    return {
        "config": cfg.to_dict(),
        "loss": loss,
        "rule_options": {k: v for k, v in rule.options().items()},
        "architecture": [x_tr.shape[1], *cfg.hidden, net.out_features],
        "n_train": int(n),
        "n_test": int(x_te.shape[0]),
        "epochs": list(range(len(hist["train_accuracy"]))),
        **hist,
        "final_train_accuracy": hist["train_accuracy"][-1],
        "final_test_accuracy": hist["test_accuracy"][-1],
        "steps": steps,
        "train_time_s": elapsed,
        "ms_per_step": 1e3 * elapsed / max(steps, 1),
        "diverged": diverged,
        "weights_nonnegative": net.weights_nonnegative() if cfg.mono else None,
        "saturated_fraction": saturated_fraction(net, x_tr),
        "participation_ratio": participation_ratios(net),
    }


def participation_ratios(net) -> list[float]:
    """Each layer's effective rank, the participation ratio (Σσ²)²/Σσ⁴ of its weight matrix's singular values:
    1 for a rank-one matrix, its smaller dimension for one whose singular values are all equal."""
    import torch

    out = []
    with torch.no_grad():
        for block in net.blocks:
            s2 = torch.linalg.svdvals(block.weight.detach().flatten(1).double()) ** 2
            total = float(s2.sum())
            out.append(total**2 / float((s2**2).sum()) if total > 0 else 0.0)
    return out


#: A hidden unit counts as saturated on a sample where its σ' is below this fraction of σ's largest slope.
SATURATION_SLOPE = 0.1


def saturated_fraction(net, x) -> float | None:
    """Fraction of (sample, hidden unit) pairs of ``x`` where σ'(z) < SATURATION_SLOPE × max σ' (None for a
    net without hidden layers, or one whose hidden activation does not saturate: ReLU's σ' is 0 or 1)."""
    import torch

    if len(net.blocks) < 2 or not net.is_mlp:
        return None
    peak = {"tanh": 1.0, "sigmoid": 0.25, "hardtanh": 1.0}
    with torch.no_grad():
        cache = net.forward_cache(x)
        counts = []
        for block, z, h in zip(net.blocks[:-1], cache.z[:-1], cache.h[:-1]):
            top = peak.get(block.act.name)
            if top is None:
                return None
            counts.append((block.act.derivative(z, h) < SATURATION_SLOPE * top).double().mean())
    return float(torch.stack(counts).mean())


#: Legend entries per row under the curves plot (each run has a train and a test entry).
LEGEND_COLUMNS = 4


def plot_curves(series: dict[str, dict[str, list[float]]], title: str):
    """Accuracy (left) and loss (right) against epoch; ``series`` maps a label to a history dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the legend goes below both panels, in rows of LEGEND_COLUMNS, so it never covers a curve
    rows = -(-2 * len(series) // LEGEND_COLUMNS)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8 + 0.2 * rows))
    for i, (label, h) in enumerate(series.items()):
        color = f"C{i % 10}"
        ep = list(range(len(h["train_accuracy"])))
        ax_acc.plot(ep, [100 * a for a in h["train_accuracy"]], color=color, ls="-", label=f"{label} train")
        ax_acc.plot(ep, [100 * a for a in h["test_accuracy"]], color=color, ls="--", label=f"{label} test")
        ax_loss.plot(ep, h["train_loss"], color=color, ls="-", label=f"{label} train")
        ax_loss.plot(ep, h["test_loss"], color=color, ls="--", label=f"{label} test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log")
    ax_acc.grid(alpha=0.3)
    ax_loss.grid(alpha=0.3)
    fig.tight_layout()
    legend = fig.legend(*ax_acc.get_legend_handles_labels(), loc="lower center", ncol=LEGEND_COLUMNS, fontsize=7,
                        frameon=False)
    fig.canvas.draw()  # the legend's height in figure units, then the panels above it
    fig.tight_layout(rect=(0, legend.get_window_extent().height / fig.bbox.height, 1, 1))
    return fig


def report_markdown(result: dict[str, Any]) -> str:
    """A short readable report of one training run."""
    cfg = result["config"]
    lines = [
        f"# analogopt train: rule `{cfg['rule']}` on `{cfg['data']}`",
        "",
        f"Architecture {'-'.join(str(s) for s in result['architecture'])}, activation `{cfg['activation']}`, "
        f"loss `{result['loss']}`, {cfg['optimizer']} lr {cfg['lr']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
        f"seed {cfg['seed']}, init `{cfg['init']}`{', mono-net' if cfg['mono'] else ''}.",
        f"Train {result['n_train']} / test {result['n_test']} samples; {result['steps']} steps, "
        f"{result['ms_per_step']:.2f} ms/step.",
        "",
        "| epoch | train acc (%) | test acc (%) | train loss | test loss |",
        "|---:|---:|---:|---:|---:|",
    ]
    for i in result["epochs"]:
        lines.append(f"| {i} | {100 * result['train_accuracy'][i]:.2f} | {100 * result['test_accuracy'][i]:.2f} | "
                     f"{result['train_loss'][i]:.4f} | {result['test_loss'][i]:.4f} |")
    if result["diverged"]:
        lines += ["", f"**The run diverged** (non-finite loss or weights, or a training loss above "
                  f"{DIVERGENCE_FACTOR:g}× its initial value); training stopped early."]
    if result["rule_options"]:
        lines += ["", "Rule options: " + ", ".join(f"`{k}={v}`" for k, v in sorted(result["rule_options"].items()))]
    lines += ["", "Files: `metrics.json` (history), `config.json` (resolved config), `curves.png`."]
    return "\n".join(lines) + "\n"
