"""Scenario kind ``rules_table``: several learning rules trained over several seeds, summarised as a
table of final accuracies (mean ± sd) in the style of 001 Table 1, with ordering checks.

Scenario layout (see ``sims/rules_*.toml``)::

    kind = "rules_table"
    seeds = [0, 1, 2]
    [base]                      # any TrainConfig key (analogopt.train), shared by all rows
    data = "mnist5k"
    hidden = [100, 100, 100, 100]
    [[rows]]                    # label, rule, and any TrainConfig key overriding [base]
    label = "RBP (no f')"
    rule = "rbp"
    rule_options = { fprime = false }
    [[checks]]                  # left op right, in accuracy points: op is ">=", "<=" or "approx"
    left = "BP"; op = ">="; right = "RBP"; margin = 0.5; metric = "train"

A check ``L >= R`` holds when mean(L) ≥ mean(R) − margin; ``L approx R`` when |mean(L) − mean(R)| ≤ margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..scenarios import Scenario
from ..train import TrainConfig, plot_curves, train
from ..values import REQUIRED, Table
from ..cosim.comparison import write_metrics
from .base import ExperimentBase

CHECK_OPS = (">=", "<=", "approx")


@dataclass(frozen=True)
class Row:
    label: str
    config: TrainConfig


@dataclass(frozen=True)
class Check:
    left: str
    op: str
    right: str
    margin: float
    metric: str

    def evaluate(self, means: dict[str, dict[str, float]]) -> tuple[bool, str]:
        a, b = means[self.left][self.metric], means[self.right][self.metric]
        if self.op == ">=":
            ok = a >= b - self.margin
        elif self.op == "<=":
            ok = a <= b + self.margin
        else:
            ok = abs(a - b) <= self.margin
        if self.op == "approx":
            rel = f"within {self.margin:g} pts"
        elif self.margin < 0:
            rel = f"by at least {-self.margin:g} pts"
        else:
            rel = f"allowing {self.margin:g} pts"
        text = f"{self.left} {self.op} {self.right} ({rel}, {self.metric} accuracy): {a:.2f} vs {b:.2f}"
        return ok, text


CURVES = ("train_accuracy", "test_accuracy", "train_loss", "test_loss")


def seed_mean_curves(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each epoch's mean over the seeds' training histories (:func:`~analogopt.train.train` results) that
    reach it: a run that diverged stops at the epoch where it did, so later epochs average the runs still
    training; ``seeds_per_epoch`` says how many. The diverged run's own last values (a non-finite or
    exploding loss) stay in its epochs' means."""
    epochs = np.array([len(r["train_accuracy"]) for r in results])
    reached = np.arange(epochs.max())[None, :] < epochs[:, None]  # row-major, as the runs' values concatenated
    curves: dict[str, list[float]] = {}
    for key in CURVES:
        values = np.zeros(reached.shape)
        values[reached] = np.concatenate([np.asarray(r[key], dtype=float) for r in results])
        with np.errstate(invalid="ignore", over="ignore"):  # a non-finite value is the mean's own
            curves[key] = (np.where(reached, values, 0.0).sum(axis=0) / reached.sum(axis=0)).tolist()
    curves["seeds_per_epoch"] = reached.sum(axis=0).tolist()
    return curves


class RulesTableExperiment(ExperimentBase):
    kind = "rules_table"
    has_circuit = False

    def __init__(self, title: str, description: str, seeds: list[int], rows: list[Row], checks: list[Check]) -> None:
        self.title, self.description, self.seeds, self.rows, self.checks = title, description, seeds, rows, checks

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "RulesTableExperiment":
        cfg = Table(scenario.config, scenario.name)
        cfg.reject_unknown({"kind", "title", "description", "seeds", "base", "rows", "checks"})
        seeds = cfg.seeds("seeds", [0, 1, 2])
        base = cfg.table("base")
        rows_raw = cfg.tables("rows")
        if not rows_raw:
            raise cfg.error("rows", "needs at least one [[rows]] table")
        rows: list[Row] = []
        for r in rows_raw:
            label = r.string("label")
            values = {**base.mapping, **{k: v for k, v in r.mapping.items() if k != "label"}}
            if "rule" not in r:
                raise r.error("rule", "missing (required): the learning rule of this row")
            config = TrainConfig.from_dict(values, where=r.where)
            from ..train import build

            build(config, 4, 2 if config.loss == "bce" else 3)  # rule options validated before any training
            rows.append(Row(label, config))
        labels = [r.label for r in rows]
        if len(set(labels)) != len(labels):
            raise cfg.error("rows", f"row labels must be unique, got {labels}")
        checks = []
        for c in cfg.tables("checks"):
            c.reject_unknown({"left", "op", "right", "margin", "metric"})
            chk = Check(c.choice("left", REQUIRED, labels), c.choice("op", ">=", CHECK_OPS), c.choice("right", REQUIRED, labels),
                        c.number("margin", 0.0), c.choice("metric", "test", ("train", "test")))
            checks.append(chk)
        return cls(cfg.string("title", scenario.name), cfg.string("description", ""), seeds, rows, checks)

    def evaluate(self, progress=None) -> dict[str, Any]:
        """Train every row for every seed; return the metrics dict (no files)."""
        runs: dict[str, list[dict[str, Any]]] = {}
        total = len(self.rows) * len(self.seeds)
        done = 0
        for row in self.rows:
            runs[row.label] = []
            for seed in self.seeds:
                cfg = TrainConfig.from_dict({**row.config.to_dict(), "seed": seed})
                runs[row.label].append(train(cfg))
                done += 1
                if progress is not None:
                    progress.update(done / total, f"{row.label} seed {seed}")
        table = {}
        for row in self.rows:
            res = runs[row.label]
            tr = np.array([100 * r["final_train_accuracy"] for r in res])
            te = np.array([100 * r["final_test_accuracy"] for r in res])
            sd = (lambda a: float(a.std(ddof=1)) if len(a) > 1 else 0.0)
            table[row.label] = {
                "rule": row.config.rule, "rule_options": row.config.rule_options,
                "train_mean": float(tr.mean()), "train_sd": sd(tr), "test_mean": float(te.mean()), "test_sd": sd(te),
                "train_per_seed": tr.tolist(), "test_per_seed": te.tolist(),
                "ms_per_step": float(np.mean([r["ms_per_step"] for r in res])),
                "diverged_runs": int(sum(r["diverged"] for r in res)),
                "saturated_fraction": (None if any(r["saturated_fraction"] is None for r in res)
                                       else float(np.mean([r["saturated_fraction"] for r in res]))),
                "participation_ratio": np.mean([r["participation_ratio"] for r in res], axis=0).tolist(),
            }
        means = {k: {"train": v["train_mean"], "test": v["test_mean"]} for k, v in table.items()}
        checks = []
        for c in self.checks:
            ok, text = c.evaluate(means)
            checks.append({"check": text, "holds": ok})
        held = sum(c["holds"] for c in checks)
        best = max(table, key=lambda k: table[k]["test_mean"])
        summary = f"{len(self.rows)} rules × {len(self.seeds)} seeds; best test {best} {table[best]['test_mean']:.2f}%"
        if checks:
            summary += f"; {held}/{len(checks)} ordering checks hold"
        return {
            "title": self.title, "seeds": self.seeds, "table": table, "checks": checks, "summary": summary,
            "curves": {label: seed_mean_curves(res) for label, res in runs.items()},
            "configs": {row.label: row.config.to_dict() for row in self.rows},
        }

    def run(self, out, progress, runner=None) -> dict[str, Any]:  # pure PyTorch: no simulator to run
        progress.stage("training")
        metrics = self.evaluate(progress)
        write_metrics(out, metrics)
        out.write_json("config.json", {"seeds": self.seeds, "rows": metrics["configs"]})
        out.save_figure("curves.png", plot_curves(metrics["curves"], self.title))
        out.write_text("report.md", self.report(metrics))
        return metrics

    def report(self, metrics: dict[str, Any]) -> str:
        first = self.rows[0].config
        arch = "-".join(str(s) for s in first.hidden)
        lines = [f"# {self.title}", ""]
        if self.description:
            lines += [self.description.strip(), ""]
        lines += [
            f"Final accuracy after the last epoch, mean ± sd (sample sd) over seeds {self.seeds}; data `{first.data}`, "
            f"hidden layers {arch}, activation `{first.activation}` unless a row says otherwise.",
            "",
            "| rule | train acc (%) | test acc (%) | saturated units (%) | ms/step |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, t in metrics["table"].items():
            flag = f" ({t['diverged_runs']} diverged)" if t["diverged_runs"] else ""
            sat = "n/a" if t.get("saturated_fraction") is None else f"{100 * t['saturated_fraction']:.1f}"
            lines.append(f"| {label}{flag} | {t['train_mean']:.2f} ± {t['train_sd']:.2f} | "
                         f"{t['test_mean']:.2f} ± {t['test_sd']:.2f} | {sat} | {t['ms_per_step']:.2f} |")
        if any(t["diverged_runs"] for t in metrics["table"].values()):
            lines += ["", "A run that diverged stopped at that epoch: its final accuracy is the one it had there, and "
                      "the mean curves after that epoch average the seeds still training (`seeds_per_epoch` in "
                      "`metrics.json`)."]
        if metrics["checks"]:
            lines += ["", "## Orderings", ""]
            lines += [f"- {'holds' if c['holds'] else '**does not hold**'}: {c['check']}" for c in metrics["checks"]]
        lines += ["", "Saturated units: the fraction of (training sample, hidden unit) pairs where σ' is below "
                  "a tenth of its peak after training (tanh, sigmoid; n/a for ReLU-like units).", "", "Row settings:", ""]
        for row in self.rows:
            c = row.config
            opts = ", ".join(f"{k}={v}" for k, v in sorted(c.rule_options.items())) or "defaults"
            act = f"`{c.activation}`" + (f" slope {c.negative_slope}" if c.activation.startswith("leaky") else "")
            lines.append(f"- {row.label}: rule `{c.rule}` ({opts}); data `{c.data}`, hidden {list(c.hidden)}, {act}, "
                         f"{c.optimizer} lr {c.lr}, batch {c.batch_size}, {c.epochs} epochs, init `{c.init}`"
                         f"{', mono-net' if c.mono else ''}")
        lines += ["", "Files: `metrics.json` (table, checks, mean curves), `config.json`, `curves.png` (mean curves)."]
        return "\n".join(lines) + "\n"
