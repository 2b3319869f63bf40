"""`simplenn-bench train`: the tutorial's training run with per-epoch metrics."""
from __future__ import annotations

import json
import sys

from simplenn.cases import LOSSES
from simplenn.commands import _args
from simplenn.data import DATASETS


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train the MLP and report loss, accuracy, precision and F1 per epoch")
    p.add_argument("--dataset", choices=DATASETS, default="mnist")
    p.add_argument("--data", metavar="PATH", help="an mnist.npz in Keras's format (with --dataset mnist)")
    p.add_argument("--layers", type=_args.layer_list, metavar="N,N,...",
                   help="layer sizes, input first (default 784,100,30,10; 64,100,30,10 for digits)")
    p.add_argument("--epochs", type=_args.positive_int, default=5)
    p.add_argument("--batch-size", type=_args.positive_int, default=32)
    p.add_argument("--learning-rate", type=_args.positive_float, default=0.01)
    p.add_argument("--loss", choices=LOSSES, default="sigmoid")
    p.add_argument("--device", default="cpu", help="cpu, gpu or a TensorFlow name such as CPU:0, GPU:0")
    p.add_argument("--logical-cpus", type=_args.positive_int, default=1, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print a machine-readable summary (includes test_accuracy)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from simplenn import data, devices
    from simplenn.train import TrainConfig, train

    devices.setup_logical_cpus(args.logical_cpus)
    device = devices.select([args.device], devices.list_devices(), devices.gpu_missing_reason(), option="--device")[0]
    dataset = data.load(args.dataset, args.data, seed=args.seed)
    layers = tuple(args.layers or ((dataset.in_dim, 100, 30, dataset.n_classes)))
    config = TrainConfig(layers, args.epochs, args.batch_size, args.learning_rate, args.loss, device.name, args.seed)
    if not args.json:
        print(f"training {'-'.join(map(str, layers))} on {dataset.name} ({len(dataset.x_train)} train, "
              f"{len(dataset.x_test)} test) on {device.name}, batch {config.batch_size}, lr {config.learning_rate}, "
              f"{config.loss} loss")

    def report(e) -> None:
        if not args.json:
            tqdm.write(f"epoch {e.epoch}: loss {e.loss:.4f}  test accuracy {e.test_accuracy:.4f}  "
                       f"precision (macro) {e.test_precision_macro:.4f}  F1 (micro) {e.test_f1_micro:.4f}  "
                       f"{e.epoch_s:.2f} s")

    total = len(dataset.x_train) * config.epochs
    with tqdm(total=total, unit="ex", disable=args.json or not sys.stderr.isatty(), file=sys.stderr) as bar:
        result = train(dataset, config, on_epoch=report, progress=bar.update)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print("micro-F1 equals accuracy for single-label data; epoch seconds are wall time including evaluation")
    return 0
