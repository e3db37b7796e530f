"""``analogopt train``: train one network with one learning rule and write a result directory."""

from __future__ import annotations

import argparse

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
    p.add_argument("--arch", default="64", help="hidden layer sizes, e.g. 100,100,100,100 (input/output from the "
                   "data; \"\": none, a single-layer network)")
    p.add_argument("--activation", default="tanh")
    # numbers stay text here and are judged by analogopt.values (one line naming the flag, exit 2),
    # not by argparse's int/float (a usage block, and float accepts inf and nan)
    p.add_argument("--epochs", default=10, help="training epochs, an integer ≥ 1")
    p.add_argument("--batch-size", default=100, help="samples per step, an integer ≥ 1")
    p.add_argument("--lr", default=0.1, help="learning rate, a finite number > 0")
    p.add_argument("--optimizer", default="sgd", help="sgd or adam")
    p.add_argument("--loss", default="auto", help="auto, cross_entropy, bce or mse")
    p.add_argument("--init", default="xavier_normal")
    p.add_argument("--mono", action="store_true", help="mono-net: non-negative weights from layer 2 on (004 Def. 1)")
    p.add_argument("--seed", default=0, help="seed of weights, feedback and batch order, an integer in [0, 2^32 - 1]")
    p.add_argument("--train-limit", default=0, help="use only the first N training samples (0: all)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="rule option, e.g. --option fprime=false --option error_bits=1 (repeatable)")
    p.add_argument("--out", required=True, help="result directory (created; must be empty unless --force)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing result directory that analogopt wrote (never any other directory)")
    p.add_argument("--allow-large", action="store_true",
                   help="train a network whose estimated memory exceeds this machine's (see docs/cli.md)")
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
    from ..train import MAX_LR, TrainConfig, layer_sizes, plot_curves, report_markdown, train
    from ..values import as_integer, as_number, as_seed

    cfg = TrainConfig.from_dict(
        {
            "rule": args.rule, "data": args.data, "data_dir": args.data_dir,
            "hidden": layer_sizes(args.arch, "--arch"), "activation": args.activation,
            "epochs": as_integer(args.epochs, "--epochs", low=1),
            "batch_size": as_integer(args.batch_size, "--batch-size", low=1),
            "lr": as_number(args.lr, "--lr", positive=True, high=MAX_LR),
            "optimizer": args.optimizer, "loss": args.loss, "init": args.init, "mono": args.mono,
            "seed": as_seed(args.seed, "--seed"), "train_limit": as_integer(args.train_limit, "--train-limit", low=0),
            "rule_options": parse_options(args.option),
        },
        where="",  # keys then read as the flags' names: "rule: unknown rule 'bogus'"
    )
    from ..train import build, size_estimate

    size_estimate(cfg).check(allow_large=args.allow_large)  # before the build below allocates the layers
    # build once on tiny shapes so rule options and activation compatibility fail before any file exists
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
