"""Time the ``LSTM`` of two checkouts of numpylstm side by side, in one process.

::

    git worktree add /tmp/before dc6f49e
    python benchmarks/ab_checkouts.py /tmp/before . --rounds 31
    python benchmarks/ab_checkouts.py /tmp/before /tmp/before    # the control: A against itself

Each checkout's package is imported under its own module objects. Every round times one
training step (forward, backward of ones, zero_grad) and one ``eval()`` forward of each,
in alternating order, and prints per case the medians and the paired median of B/A with
its quartiles. The control's spread is the resolution of the comparison on this machine.
"""
import argparse
import importlib
import statistics
import sys
import time

import numpy as np

SHAPES = {"large": (64, 100, 128, 256), "classroom": (8, 50, 10, 32)}   # N, T, input, hidden


def import_checkout(path):
    """The ``numpylstm`` package of the checkout at ``path``, imported apart from any other."""
    sys.path.insert(0, path)
    try:
        package = importlib.import_module("numpylstm")
    finally:
        sys.path.remove(path)
    for name in [n for n in sys.modules if n == "numpylstm" or n.startswith("numpylstm.")]:
        del sys.modules[name]          # the next import reads the other checkout's files
    return package


def cases(package, shape, dtype, x):
    """(training step, eval forward) of a fresh LSTM of ``package``."""
    N, T, I, H = shape
    training, inference = package.LSTM(I, H, seed=0, dtype=dtype), package.LSTM(I, H, seed=0, dtype=dtype).eval()

    def train():
        out, _ = training(x)
        training.backward(np.ones_like(out))
        training.zero_grad()
    return {"train": train, "eval forward": lambda: inference(x)}


def compare(a, b, rounds):
    rng = np.random.default_rng(0)
    for shape_name, shape in SHAPES.items():
        for dtype in (np.float64, np.float32):
            N, T, I, H = shape
            x = rng.standard_normal((T, N, I)).astype(dtype)
            runs = {"A": cases(a, shape, dtype, x), "B": cases(b, shape, dtype, x)}
            for what in ("train", "eval forward"):
                seconds = {"A": [], "B": []}
                runs["A"][what](), runs["B"][what]()          # warm-up
                for r in range(rounds):
                    for tag in ("AB" if r % 2 == 0 else "BA"):
                        start = time.perf_counter()
                        runs[tag][what]()
                        seconds[tag].append(time.perf_counter() - start)
                ratios = [b_ / a_ for a_, b_ in zip(seconds["A"], seconds["B"])]
                print(f"{shape_name:9s} {np.dtype(dtype).name:7s} {what:12s} "
                      f"A {statistics.median(seconds['A']) * 1e3:8.2f} ms  B {statistics.median(seconds['B']) * 1e3:8.2f} ms  "
                      f"B/A {statistics.median(ratios):.3f} (quartiles {np.percentile(ratios, 25):.3f}-"
                      f"{np.percentile(ratios, 75):.3f})", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="folder of checkout A (the one measured against)")
    parser.add_argument("b", help="folder of checkout B")
    parser.add_argument("--rounds", type=int, default=31)
    args = parser.parse_args(argv)
    compare(import_checkout(args.a), import_checkout(args.b), args.rounds)


if __name__ == "__main__":
    main()
