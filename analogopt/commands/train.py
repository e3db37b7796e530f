"""``analogopt train``: train one network with one learning rule and write a result directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a network with one learning rule (bp, rbp, srbp, mdfa, nf, reciprocal, wp, np, …)",
        description="Train an MLP with a learning rule from analogopt.reference.rules and write metrics.json "
        "(per-epoch train/test accuracy and loss), curves.png, config.json and report.md into --out.",
    )
    p.add_argument("--rule", required=True, help="learning rule name, e.g. bp, rbp, srbp, top, mdfa, nf, reciprocal")
    p.add_argument("--data", required=True, help="mnist5k, mnist_idx (needs --data-dir), digits, breast_cancer or iris")
    p.add_argument("--data-dir", default="", help="folder holding full-MNIST IDX files (for --data mnist_idx)")
    p.add_argument("--arch", default="64", help="hidden layer sizes, e.g. 100,100,100,100 (input/output from the data)")
    p.add_argument("--activation", default="tanh")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--optimizer", default="sgd", help="sgd or adam")
    p.add_argument("--loss", default="auto", help="auto, cross_entropy, bce or mse")
    p.add_argument("--init", default="xavier_normal")
    p.add_argument("--mono", action="store_true", help="mono-net: non-negative weights from layer 2 on (004 Def. 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-limit", type=int, default=0, help="use only the first N training samples")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="rule option, e.g. --option fprime=false --option error_bits=1 (repeatable)")
    p.add_argument("--out", required=True, type=Path, help="result directory (created; must be empty unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing result directory")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def parse_options(items: list[str]) -> dict:
    from ..scenarios import parse_value

    options = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE, e.g. error_bits=1")
        options[key.strip()] = parse_value(raw.strip())
    return options


def run(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from ..results import RunDirectory
    from ..train import TrainConfig, plot_curves, report_markdown, train

    cfg = TrainConfig.from_dict(
        {
            "rule": args.rule, "data": args.data, "data_dir": args.data_dir, "hidden": args.arch,
            "activation": args.activation, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
            "optimizer": args.optimizer, "loss": args.loss, "init": args.init, "mono": args.mono, "seed": args.seed,
            "train_limit": args.train_limit, "rule_options": parse_options(args.option),
        },
        where="analogopt train",
    )
    # build once on tiny shapes so rule options and activation compatibility fail before any file exists
    from ..train import build

    build(cfg, 4, 3 if cfg.loss != "bce" else 2)
    progress = Progress(enabled=not args.quiet)
    with RunDirectory(args.out, force=args.force) as out:
        progress.stage("training")
        result = train(cfg, progress)
        out.write_json("config.json", cfg.to_dict())
        out.write_json("metrics.json", result)
        out.save_figure("curves.png", plot_curves({cfg.rule: result}, f"{cfg.rule} on {cfg.data}"))
        out.write_text("report.md", report_markdown(result))
    progress.done()
    if not args.quiet:
        print(f"{cfg.rule} on {cfg.data}: train {100 * result['final_train_accuracy']:.2f}%, "
              f"test {100 * result['final_test_accuracy']:.2f}% after {len(result['epochs']) - 1} epochs — results in {args.out}")
    return 0


__all__ = ["register", "run", "parse_options"]
