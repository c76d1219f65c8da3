"""Speed and memory of numpylstm's LSTM, side by side with its references.

    python benchmarks/bench_lstm.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_lstm.py --quick    # a short run: fewer repeats, shorter long-sequence part
    python benchmarks/bench_lstm.py --compare old_fast.py   # also time an older fast engine, same run
    python benchmarks/bench_lstm.py --threshold             # one piece against shards, over N*H

For each shape and dtype it times, in interleaved rounds (every candidate once
per round, so load from other processes hits them all alike):

- numpylstm ``LSTM``: a training step (forward + backward, every weight
  gradient) and an inference forward (``eval()``);
- the per-step reference: ``lstm_step_forward`` / ``lstm_step_backward`` looped
  over time, weight gradients summed step by step (forward only: the step loop);
- ``torch.nn.LSTM`` on the CPU (when torch is installed) with the same shapes,
  dtype and number of threads as NumPy's BLAS; a training step includes dx;
- the GEMM floor: the forward's matrix products (X W_ih^T and H W_hh^T over all
  T*N rows) done as two large products; 3x that for a training step, 1x for a
  forward (see benchmarks/README.md).

It prints medians and, per round, paired ratios (their medians), and a table of the
ratios issue 16 sets targets for. ``--compare FILE`` loads another version of
numpylstm/fast.py (``git show REV:numpylstm/fast.py > FILE``) as the engine "before" and
times an ``LSTM`` running it beside the others. Then memory:
peak bytes of a training step (tracemalloc sees NumPy's buffers) against the
activations' lower bound B*T*(4H + H) values, and long sequences: T up to
10,000, peak memory per time step.
"""
import argparse
import ctypes
import gc
import importlib.util
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from numpylstm import LSTM, fast_threads, recurrent, threads as engine_threads  # noqa: E402
from numpylstm.backend import get_array_module, to_numpy  # noqa: E402
from numpylstm.fast import ShardedLSTMCache, lstm_forward as fast_lstm_forward  # noqa: E402
from numpylstm.functional import lstm_step_backward, lstm_step_forward  # noqa: E402

try:
    import torch
except ImportError:  # the table then has no PyTorch column
    torch = None

SHAPES = {  # name: (B, T, input, hidden)
    "large": (64, 100, 128, 256),
    "classroom": (8, 50, 10, 32),
}
DTYPES = (np.float64, np.float32)


# ------------------------------------------------------------------ the machine
def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_description():
    """Name and version of NumPy's BLAS, from ``np.show_config`` where it can say."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # NumPy < 1.25 prints its configuration instead of returning it
        return "unknown"


def _openblas_function(action):
    """``openblas_{action}_num_threads`` of the OpenBLAS that NumPy loaded, or None.

    Found through /proc/self/maps (Linux); the symbol names carry the prefixes
    and suffixes of NumPy's scipy-openblas builds.
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in paths:
        library = ctypes.CDLL(path)
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                function = getattr(library, f"{prefix}openblas_{action}_num_threads{suffix}", None)
                if function is not None:
                    return function
    return None


def blas_threads():
    """The number of threads NumPy's BLAS uses, or None if it cannot be found out."""
    try:
        import threadpoolctl
        for pool in threadpoolctl.threadpool_info():
            if pool.get("user_api") == "blas":
                return pool["num_threads"]
    except ImportError:
        pass
    get = _openblas_function("get")
    return None if get is None else int(get())


def set_blas_threads(count):
    """Ask NumPy's BLAS to use ``count`` threads; False if it could not be done."""
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(count, user_api="blas")
        return True
    except ImportError:
        pass
    set_threads = _openblas_function("set")
    if set_threads is None:
        return False
    set_threads(int(count))
    return True


def load_average():
    """The 1-minute load average (other processes competing for the cores), or 'unknown'."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


def describe_machine(threads):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"CPU: {cpu_model()}, {cores} cores available; load average {load_average()} at the start",
        f"Python {platform.python_version()}, NumPy {np.__version__} with BLAS {blas_description()}, "
        f"{threads} BLAS threads",
    ]
    minimum = ", ".join(f"{values} in {dtype}" for dtype, values in fast_threads.SHARD_MIN_VALUES.items())
    lines.append(f"numpylstm's fast engine: {engine_threads.get_engine_threads()} threads; a batch is split into "
                 f"shards of at least {minimum} state values (rows * H) per step")
    if torch is not None:
        lines.append(f"torch {torch.__version__}, set to {torch.get_num_threads()} threads "
                     "(torch.set_num_threads = NumPy's BLAS threads)")
    else:
        lines.append("torch not installed: no PyTorch column")
    return lines


# ------------------------------------------------------------------ candidates
def numpylstm_candidates(x, d_out, dtype, device="cpu", engine="fast"):
    lstm = LSTM(x.shape[2], d_out.shape[2], dtype=dtype, seed=0, engine=engine).to(device)

    def train_step():
        lstm.train()
        lstm.zero_grad()
        lstm(x)
        lstm.backward(d_out)

    def forward():
        lstm.eval()
        lstm(x)

    return lstm, train_step, forward


def per_step_candidates(lstm, x, d_out):
    """The teaching reference: the step kernels looped over time."""
    W_ih, W_hh, b_ih, b_hh = (p.data for p in lstm.parameters())
    N, H = x.shape[1], W_hh.shape[1]

    def forward():
        h = c = np.zeros((N, H), dtype=x.dtype)
        caches = []
        for x_t in x:
            h, c, cache = lstm_step_forward(x_t, h, c, W_ih, W_hh, b_ih, b_hh)
            caches.append(cache)
        return caches

    def train_step():
        caches = forward()
        dh = dc = np.zeros((N, H), dtype=x.dtype)
        sums = [np.zeros_like(w) for w in (W_ih, W_hh, b_ih, b_hh)]
        for t in reversed(range(len(x))):
            _, dh, dc, *grads = lstm_step_backward(dh + d_out[t], dc, caches[t])
            for total, grad in zip(sums, grads):
                total += grad

    return train_step, forward


def torch_module(lstm, device="cpu"):
    """``torch.nn.LSTM`` on ``device`` with the weights of ``lstm`` (a numpylstm LSTM)."""
    dtype = getattr(torch, np.dtype(lstm.dtype).name)
    module = torch.nn.LSTM(lstm.input_size, lstm.hidden_size, dtype=dtype, device=device)
    with torch.no_grad():
        for name, param in module.named_parameters():
            param.copy_(torch.as_tensor(to_numpy(getattr(lstm, name).data), device=device))
    return module


def torch_candidates(module, x, d_out, device="cpu"):
    """A training step (dx included) and an inference forward of ``module`` on ``device``."""
    x_t = torch.as_tensor(to_numpy(x), device=device).requires_grad_(True)
    d_out_t = torch.as_tensor(to_numpy(d_out), device=device)

    def train_step():
        module.train()
        module.zero_grad()
        x_t.grad = None
        out, _ = module(x_t)
        out.backward(d_out_t)

    def forward():
        module.eval()
        with torch.inference_mode():
            module(x_t)

    return train_step, forward


def load_engine(path, name="before"):
    """Register the fast engine of the file ``path`` (a version of numpylstm/fast.py) as ``name``."""
    spec = importlib.util.spec_from_file_location(f"numpylstm._bench_{name}", path)
    module = importlib.util.module_from_spec(spec)   # inside the package: its relative imports work
    spec.loader.exec_module(module)
    recurrent.ENGINES[name] = (module.lstm_forward, module.lstm_backward)
    return name


def gemm_floor_candidate(x, H):
    """The forward's matrix products as two large products: (T*N, I) W_ih^T and (T*N, H) W_hh^T.

    On the array library of ``x``: NumPy here, CuPy for benchmarks/bench_gpu.py.
    """
    xp = get_array_module(x)
    rng = np.random.default_rng(0)
    T, N, I = x.shape
    X = x.reshape(T * N, I)
    hidden, W_ih, W_hh = (xp.asarray(rng.standard_normal(shape).astype(x.dtype))
                          for shape in ((T * N, H), (4 * H, I), (4 * H, H)))
    out = xp.empty((T * N, 4 * H), dtype=x.dtype)

    def products():
        xp.matmul(X, W_ih.T, out=out)
        xp.matmul(hidden, W_hh.T, out=out)

    return products


# ------------------------------------------------------------------ timing
def time_interleaved(candidates, repeats, pause):
    """Seconds per call of each candidate: one call of every candidate per round, after a warm-up.

    Before each call the benchmark sleeps ``pause`` seconds: after a product,
    OpenBLAS's worker threads keep spinning for up to about 0.1 s, and would
    take a core from whatever runs next (PyTorch's threads, above all).
    """
    for run in candidates.values():
        run()
    times = {name: [] for name in candidates}
    names = list(candidates)
    for round_index in range(repeats):
        # rotate the order so no candidate always runs right after the same one
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            time.sleep(pause)
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(times, a, b):
    """Median over rounds of time(a) / time(b): both measured in the same round."""
    return statistics.median(ta / tb for ta, tb in zip(times[a], times[b]))


def benchmark_case(shape_name, dtype, repeats, pause, compare=None):
    B, T, I, H = SHAPES[shape_name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    d_out = rng.standard_normal((T, B, H)).astype(dtype)
    lstm, train, forward = numpylstm_candidates(x, d_out, dtype)
    step_train, step_forward = per_step_candidates(lstm, x, d_out)
    floor = gemm_floor_candidate(x, H)
    candidates = {"numpylstm train": train, "numpylstm forward": forward,
                  "per-step train": step_train, "per-step forward": step_forward,
                  "GEMM products": floor}
    if compare is not None:
        _, candidates["before train"], candidates["before forward"] = numpylstm_candidates(
            x, d_out, dtype, engine=compare)
    if torch is not None:
        candidates["torch train"], candidates["torch forward"] = torch_candidates(torch_module(lstm), x, d_out)
    times = time_interleaved(candidates, repeats, pause)
    # the floors: 3x the forward's products for a training step, 1x for a forward
    times["GEMM floor train"] = [3 * t for t in times["GEMM products"]]
    times["GEMM floor forward"] = times.pop("GEMM products")
    return times


def report_case(shape_name, dtype, times):
    B, T, I, H = SHAPES[shape_name]
    print(f"\n{shape_name}: B={B}, T={T}, input={I}, hidden={H}, {np.dtype(dtype).name}"
          f"  ({len(times['numpylstm train'])} rounds, medians)")
    for mode in ("train", "forward"):
        row = [f"{mode:8s}"]
        for who in ("numpylstm", "before", "per-step", "torch", "GEMM floor"):
            key = f"{who} {mode}"
            if key in times:
                row.append(f"{who} {statistics.median(times[key]) * 1e3:9.2f} ms")
        print("  " + " | ".join(row))
        ratios = [f"numpylstm / per-step {paired_ratio(times, f'numpylstm {mode}', f'per-step {mode}'):.2f}"]
        if f"torch {mode}" in times:
            torch_ratio = paired_ratio(times, f"numpylstm {mode}", f"torch {mode}")
            ratios.append(f"numpylstm / torch {torch_ratio:.2f}")
        ratios.append(f"numpylstm / GEMM floor "
                      f"{paired_ratio(times, f'numpylstm {mode}', f'GEMM floor {mode}'):.2f}")
        if f"before {mode}" in times:
            ratios.append(f"numpylstm / before {paired_ratio(times, f'numpylstm {mode}', f'before {mode}'):.2f}")
        print("  " + " " * 10 + ", ".join(ratios))


# The targets of issue 16: (shape, dtype, mode, the reference, the highest ratio that meets it).
TARGETS = [
    ("large", np.float64, "train", "torch", 1.0),
    ("large", np.float32, "train", "torch", 1.2),
    ("large", np.float64, "train", "GEMM floor", 1.6),
    ("large", np.float32, "train", "GEMM floor", 1.6),
    ("classroom", np.float64, "train", "torch", 0.5),
    ("large", np.float64, "forward", "torch", 1.0),
    ("large", np.float32, "forward", "torch", 1.0),
]


def report_targets(results):
    """The ratios issue 16 asks for, one line each, from ``results[(shape, dtype name)]`` = times."""
    print("\nissue 16's targets (paired medians of this run; 'before': the --compare engine, same run)")
    print(f"  {'case':34s} {'target':>7s} {'now':>6s} {'met':>4s} {'before':>7s} {'now/before':>11s}")
    for shape, dtype, mode, reference, target in TARGETS:
        times = results.get((shape, np.dtype(dtype).name))
        if times is None or f"{reference} {mode}" not in times:
            continue
        now = paired_ratio(times, f"numpylstm {mode}", f"{reference} {mode}")
        columns = [f"{shape} {np.dtype(dtype).name} {mode} / {reference}", f"<= {target:.1f}", f"{now:.2f}",
                   "yes" if now <= target else "no"]
        if f"before {mode}" in times:
            columns += [f"{paired_ratio(times, f'before {mode}', f'{reference} {mode}'):.2f}",
                        f"{paired_ratio(times, f'numpylstm {mode}', f'before {mode}'):.2f}"]
        print("  {:34s} {:>7s} {:>6s} {:>4s}".format(*columns[:4])
              + ("" if len(columns) == 4 else " {:>7s} {:>11s}".format(*columns[4:])))


# ------------------------------------------------------------------ memory
def traced_peak(run):
    """Peak bytes traced (NumPy buffers included) while ``run()`` executes, above the start."""
    gc.collect()
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    result = run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - start, result


def cache_bytes(lstm):
    """Bytes of the arrays a recorded forward keeps for backward, by field (one layer, all its shards)."""
    cache = lstm._caches[-1].layers[0]
    shards = cache.caches if isinstance(cache, ShardedLSTMCache) else (cache,)
    return {name: sum(getattr(shard, name).nbytes for shard in shards) for name in ("gates", "cells", "out", "x")}


def memory_report(dtype):
    B, T, I, H = SHAPES["large"]
    itemsize = np.dtype(dtype).itemsize
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    d_out = rng.standard_normal((T, B, H)).astype(dtype)
    lstm = LSTM(I, H, dtype=dtype, seed=0)
    lower_bound = B * T * (4 * H + H) * itemsize
    forward_peak, _ = traced_peak(lambda: lstm(x))
    held = cache_bytes(lstm)
    lstm.clear_caches()
    step_peak, _ = traced_peak(lambda: (lstm(x), lstm.backward(d_out)))
    lstm.eval()
    eval_peak, _ = traced_peak(lambda: lstm(x))
    weights = [None if p is None else p.data for p in lstm._layer_parameters(0, 0)]
    zeros_h, zeros_c = np.zeros((B, lstm.output_size), dtype), np.zeros((B, H), dtype)
    kernel_peak, _ = traced_peak(
        lambda: fast_lstm_forward(x, zeros_h, zeros_c, *weights, keep_cache=False))
    mb = 1e6
    print(f"\nmemory, large shape, {np.dtype(dtype).name}: "
          f"lower bound B*T*(4H + H) = {lower_bound / mb:.1f} MB")
    print(f"  cache kept for backward: gates {held['gates'] / mb:.1f} MB + cells {held['cells'] / mb:.1f} MB"
          f" = {(held['gates'] + held['cells']) / mb:.1f} MB "
          f"({(held['gates'] + held['cells']) / lower_bound:.2f}x the bound); it also refers to the output "
          f"({held['out'] / mb:.1f} MB) and the input ({held['x'] / mb:.1f} MB), which exist anyway")
    print(f"  peak during forward (training mode) {forward_peak / mb:.1f} MB "
          f"= {forward_peak / lower_bound:.2f}x; "
          f"training step {step_peak / mb:.1f} MB = {step_peak / lower_bound:.2f}x; "
          f"forward in eval() {eval_peak / mb:.1f} MB = {eval_peak / lower_bound:.2f}x")
    print(f"  fast.lstm_forward(..., keep_cache=False), what eval() can use: {kernel_peak / mb:.1f} MB "
          f"= {kernel_peak / lower_bound:.2f}x (the output alone is {held['out'] / mb:.1f} MB)")


def long_sequence_report(lengths_of_runs):
    """Peak memory of a training step at several T: linear in T, and the bytes per step."""
    B, _, I, H = SHAPES["classroom"]
    lstm = LSTM(I, H, seed=0)
    rng = np.random.default_rng(0)
    peaks, seconds = [], []
    for T in lengths_of_runs:
        x = rng.standard_normal((T, B, I))
        d_out = rng.standard_normal((T, B, H))
        start = time.perf_counter()
        peak, _ = traced_peak(lambda: (lstm(x), lstm.backward(d_out)))
        seconds.append(time.perf_counter() - start)
        peaks.append(peak)
    slope, intercept = np.polyfit(lengths_of_runs, peaks, 1)
    fitted = np.polyval([slope, intercept], lengths_of_runs)
    worst_misfit = max(abs(p - f) / p for p, f in zip(peaks, fitted))
    expected = B * (4 * H + H) * 8
    print(f"\nlong sequences, training step, B={B}, input={I}, hidden={H}, float64 (tracemalloc on):")
    for T, peak, sec in zip(lengths_of_runs, peaks, seconds):
        print(f"  T={T:6d}: peak {peak / 1e6:7.2f} MB, {sec:6.2f} s")
    print(f"  fit peak = {slope:.0f} bytes/step * T + {intercept / 1e3:.0f} kB "
          f"(worst misfit {worst_misfit:.1%}); "
          f"gates + cell alone are {expected} bytes/step, so {slope / expected:.2f}x that")


# ------------------------------------------------------------------ the shard threshold
THRESHOLD_SHAPES = [(N, H) for H in (32, 64, 128, 256) for N in (8, 16, 32, 64, 128) if 512 <= N * H <= 32768]


def threshold_report(repeats, pause, T=50):
    """A training step in one piece against the same step in 2 shards, over N * H (float64 and float32)."""
    print(f"\none piece against 2 shards, training step, T={T}, input = H/2 (paired medians)")
    saved = fast_threads.SHARD_MIN_VALUES
    for dtype in DTYPES:
        for N, H in sorted(THRESHOLD_SHAPES, key=lambda shape: shape[0] * shape[1]):
            rng = np.random.default_rng(0)
            x = rng.standard_normal((T, N, H // 2)).astype(dtype)
            d_out = rng.standard_normal((T, N, H)).astype(dtype)
            _, train, _ = numpylstm_candidates(x, d_out, dtype)

            def run_with(min_values):
                def run():
                    fast_threads.SHARD_MIN_VALUES = min_values
                    try:
                        train()
                    finally:
                        fast_threads.SHARD_MIN_VALUES = saved
                return run

            with engine_threads.engine_threads(2):
                times = time_interleaved({"one piece": run_with(dict.fromkeys(saved, N * H + 1)),
                                          "2 shards": run_with(dict.fromkeys(saved, 1))}, repeats, pause)
            print(f"  {np.dtype(dtype).name} N={N:4d} H={H:4d} N*H={N * H:6d}: "
                  f"one piece {statistics.median(times['one piece']) * 1e3:8.2f} ms, "
                  f"2 shards / one piece {paired_ratio(times, '2 shards', 'one piece'):.2f}")


# ------------------------------------------------------------------ main
def memory_only():
    for dtype in DTYPES:
        memory_report(dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter long sequences")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per case (default 15, quick 3)")
    parser.add_argument("--skip-memory", action="store_true", help="timings only")
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds to sleep before each timed call (idle BLAS threads)")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for NumPy, and torch threads (default: NumPy's as it is)")
    parser.add_argument("--compare", metavar="FILE", default=None,
                        help="another version of numpylstm/fast.py, timed beside the current one")
    parser.add_argument("--threshold", action="store_true",
                        help="only time one piece against shards over N*H (for fast_threads.SHARD_MIN_VALUES)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 15)
    if args.threads is not None and not set_blas_threads(args.threads):
        print(f"could not set NumPy's BLAS threads to {args.threads}; "
              "set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before starting instead")
    threads = blas_threads()
    if torch is not None:
        torch.set_num_threads(threads or os.cpu_count())
    print("\n".join(describe_machine(threads)))
    if args.threshold:
        threshold_report(repeats, args.pause)
        return
    compare = None if args.compare is None else load_engine(args.compare)
    results = {}
    for shape_name in SHAPES:
        for dtype in DTYPES:
            times = results[shape_name, np.dtype(dtype).name] = benchmark_case(
                shape_name, dtype, repeats, args.pause, compare)
            report_case(shape_name, dtype, times)
    report_targets(results)
    if not args.skip_memory:
        memory_only()
        long_sequence_report([1000, 2000, 5000] if args.quick else [1000, 2500, 5000, 10000])
    print(f"\nload average {load_average()} at the end (above ~0.5, other processes took cores: repeat)")


if __name__ == "__main__":
    main()
