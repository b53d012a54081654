"""PyTorch side of bench/run_gemm_bench.sh: the same products as bench_gemm
(F.linear, x [rows, in] . W^T, W [out, in]), best of --repeat after a warm-up."""
import argparse
import json
import time

import torch
import torch.nn.functional as F

SHAPES = [(5120, 8192), (5120, 1024), (8192, 5120), (5120, 25600), (25600, 5120)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for i, o in SHAPES:
            w = (torch.randn(o, i, generator=g) * 0.02).to(dt)
            x = (torch.randn(a.rows, i, generator=g) * 0.02).to(dt)
            F.linear(x, w)
            best = 1e30
            for _ in range(a.repeat):
                t = time.perf_counter()
                F.linear(x, w)
                best = min(best, time.perf_counter() - t)
            print(json.dumps({"what": "torch", "dtype": a.dtype, "threads": a.threads, "rows": a.rows, "in": i,
                              "out": o, "ms": round(best * 1e3, 2),
                              "gflop_s": round(2 * a.rows * i * o / best / 1e9, 1)}), flush=True)


if __name__ == "__main__":
    main()
