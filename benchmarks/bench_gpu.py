"""numpylstm on a GPU (CuPy) side by side with ``torch.nn.LSTM`` on the same GPU (cuDNN).

    python benchmarks/bench_gpu.py            # full run
    python benchmarks/bench_gpu.py --quick    # fewer rounds

Needs CuPy and a GPU; PyTorch with CUDA adds the cuDNN column. For each shape
and dtype it first checks the numbers (outputs and every gradient of the CuPy
run against the NumPy run on the CPU, and against cuDNN), then times in
interleaved rounds, as bench_lstm.py does, with the device synchronized at the
end of every call so that a time covers all the work queued on the GPU:

- numpylstm train / forward: ``LSTM(...).to("cuda")`` on CuPy arrays;
- cuDNN train / forward: ``torch.nn.LSTM`` on the GPU, same weights, TF32 off
  (CuPy's float32 products do not use TF32 either, so both do the same arithmetic);
- GEMM floor: the forward's two products over all T*N rows as CuPy products
  (3x for a training step, 1x for a forward);
- numpylstm on the CPU (large shape only), for scale.
"""
import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench_lstm import (SHAPES as CPU_SHAPES, gemm_floor_candidate, numpylstm_candidates,  # noqa: E402
                        paired_ratio, time_interleaved, torch_candidates, torch_module)
from numpylstm import LSTM, backend  # noqa: E402
from numpylstm.gradcheck import rel_error  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

SHAPES = dict(CPU_SHAPES, wide=(256, 100, 512, 1024))  # wide: where a GPU has work to do
DTYPES = (np.float64, np.float32)


def synchronized(run, cupy):
    """``run`` followed by a wait for everything queued on the GPU (CuPy's and torch's work)."""
    def call():
        run()
        cupy.cuda.Device().synchronize()
        if torch is not None and torch.cuda.is_available():
            torch.cuda.synchronize()
    return call


def check_numbers(lstm_gpu, x, d_out, module):
    """Worst relative error of the CuPy run's output and gradients against the CPU run and cuDNN."""
    lstm_cpu = LSTM(lstm_gpu.input_size, lstm_gpu.hidden_size, dtype=lstm_gpu.dtype)
    lstm_cpu.load_state_dict(lstm_gpu.state_dict())
    results = {}
    for name, lstm, inputs in (("gpu", lstm_gpu, (x, d_out)),
                               ("cpu", lstm_cpu, tuple(map(backend.to_numpy, (x, d_out))))):
        lstm.train()
        lstm.zero_grad()
        out, _ = lstm(inputs[0])
        dx = lstm.backward(inputs[1])[0]
        results[name] = [out, dx] + [p.grad for p in lstm.parameters()]
    worst = {"cpu": max(rel_error(g, c) for g, c in zip(results["gpu"], results["cpu"]))}
    if module is not None:
        x_t = torch.as_tensor(backend.to_numpy(x), device="cuda").requires_grad_(True)
        module.zero_grad()
        out_t, _ = module(x_t)
        out_t.backward(torch.as_tensor(backend.to_numpy(d_out), device="cuda"))
        reference = [out_t, x_t.grad] + [p.grad for p in module.parameters()]
        worst["cudnn"] = max(rel_error(g, t.detach().cpu().numpy())
                             for g, t in zip(results["gpu"], reference))
    return worst


def benchmark_case(cupy, shape_name, dtype, repeats):
    B, T, I, H = SHAPES[shape_name]
    rng = np.random.default_rng(0)
    x_cpu = rng.standard_normal((T, B, I)).astype(dtype)
    d_out_cpu = rng.standard_normal((T, B, H)).astype(dtype)
    x, d_out = cupy.asarray(x_cpu), cupy.asarray(d_out_cpu)
    lstm, train, forward = numpylstm_candidates(x, d_out, dtype, device="cuda")
    candidates = {"numpylstm train": train, "numpylstm forward": forward,
                  "GEMM products": gemm_floor_candidate(x, H)}
    module = None
    if torch is not None and torch.cuda.is_available():
        module = torch_module(lstm, "cuda")
        candidates["cuDNN train"], candidates["cuDNN forward"] = torch_candidates(module, x, d_out, "cuda")
    if shape_name == "large":
        _, candidates["CPU numpylstm train"], candidates["CPU numpylstm forward"] = \
            numpylstm_candidates(x_cpu, d_out_cpu, dtype)
    errors = check_numbers(lstm, x, d_out, module)
    times = time_interleaved({name: synchronized(run, cupy) for name, run in candidates.items()},
                             repeats, pause=0.0)
    times["GEMM floor train"] = [3 * t for t in times["GEMM products"]]
    times["GEMM floor forward"] = times.pop("GEMM products")
    return times, errors


def report_case(shape_name, dtype, times, errors):
    B, T, I, H = SHAPES[shape_name]
    checks = ", ".join(f"vs {name} {value:.1e}" for name, value in errors.items())
    print(f"\n{shape_name}: B={B}, T={T}, input={I}, hidden={H}, {np.dtype(dtype).name}"
          f"  ({len(times['numpylstm train'])} rounds, medians); worst relative error {checks}")
    for mode in ("train", "forward"):
        row = [f"{mode:8s}"]
        for who in ("numpylstm", "cuDNN", "GEMM floor", "CPU numpylstm"):
            if f"{who} {mode}" in times:
                row.append(f"{who} {statistics.median(times[f'{who} {mode}']) * 1e3:8.2f} ms")
        print("  " + " | ".join(row))
        ratios = [f"numpylstm / {who} {paired_ratio(times, f'numpylstm {mode}', f'{who} {mode}'):.2f}"
                  for who in ("cuDNN", "GEMM floor", "CPU numpylstm") if f"{who} {mode}" in times]
        print("  " + " " * 10 + ", ".join(ratios))


def describe(cupy):
    properties = cupy.cuda.runtime.getDeviceProperties(0)
    name = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]
    lines = [f"GPU: {name}, {properties['totalGlobalMem'] / 2**30:.0f} GiB; "
             f"CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}; "
             f"NumPy {np.__version__}; CPU: {os.cpu_count()} cores"]
    if torch is not None and torch.cuda.is_available():
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        lines.append(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, TF32 off")
    else:
        lines.append("torch with CUDA not available: no cuDNN column")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 15")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per case")
    args = parser.parse_args(argv)
    if not backend.cupy_available():
        sys.exit("bench_gpu.py needs CuPy and a GPU (pip install numpylstm[cupy]); none was found")
    import cupy
    repeats = args.repeats or (3 if args.quick else 15)
    print("\n".join(describe(cupy)))
    for shape_name in SHAPES:
        for dtype in DTYPES:
            report_case(shape_name, dtype, *benchmark_case(cupy, shape_name, dtype, repeats))


if __name__ == "__main__":
    main()
