#!/usr/bin/python3
"""The same training step as bench_lmtrain in PyTorch eager autograd: the Emu3 decoder
(RMSNorm, q/k per-head RMSNorm, rotate-half RoPE, GQA, SwiGLU, untied head), causal
cross-entropy over every row, clip_grad_norm_(1.0), AdamW (decay 0.1 on matrices only),
on the weights and batch bench_lmtrain wrote to --dir.
  lmtrain_torch.py --dir /tmp/emu-lmtrain-bench --threads 2 --steps 5 --rows 4 --seq 512
"""
import argparse, json, math, os, struct, time

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=np.float32).reshape(info["shape"]).copy())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/emu-lmtrain-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.dir, "config.json")))
    W = load_safetensors(os.path.join(a.dir, "model.safetensors"))
    params = {k: torch.nn.Parameter(v) for k, v in W.items()}
    D, H, Hkv, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    L, eps, theta = cfg["num_hidden_layers"], cfg["rms_norm_eps"], cfg["rope_theta"]
    ids = torch.from_numpy(np.fromfile(os.path.join(a.dir, "batch.bin"), dtype=np.int32).astype(np.int64))
    ids = ids.view(a.rows, a.seq)
    B, T = ids.shape
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.arange(T).float()[:, None] * inv_freq[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    causal = torch.full((T, T), float("-inf")).triu(1)

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rope(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def loss_fn():
        x = params["model.embed_tokens.weight"][ids]
        for l in range(L):
            p = lambda n: params[f"model.layers.{l}.{n}.weight"]
            h = rms(x, p("input_layernorm"))
            q = rms((h @ p("self_attn.q_proj").t()).view(B, T, H, hd), p("self_attn.q_norm")).transpose(1, 2)
            k = rms((h @ p("self_attn.k_proj").t()).view(B, T, Hkv, hd), p("self_attn.k_norm")).transpose(1, 2)
            v = (h @ p("self_attn.v_proj").t()).view(B, T, Hkv, hd).transpose(1, 2)
            q, k = rope(q), rope(k)
            k = k.repeat_interleave(H // Hkv, dim=1)
            v = v.repeat_interleave(H // Hkv, dim=1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + causal
            o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
            x = x + o @ p("self_attn.o_proj").t()
            h = rms(x, p("post_attention_layernorm"))
            x = x + (torch.nn.functional.silu(h @ p("mlp.gate_proj").t()) * (h @ p("mlp.up_proj").t())) @ p(
                "mlp.down_proj").t()
        logits = rms(x, params["model.norm.weight"]) @ params["lm_head.weight"].t()
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    decay = [v for k, v in params.items() if v.dim() > 1]
    no_decay = [v for k, v in params.items() if v.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    losses, t_fwd, t_bwd, t_opt, best = [], 0.0, 0.0, 0.0, 1e30
    for s in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = loss_fn()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        t3 = time.perf_counter()
        losses.append(loss.item())
        if s == 0:
            continue
        t_fwd += t1 - t0
        t_bwd += t2 - t1
        t_opt += t3 - t2
        best = min(best, t3 - t0)
    step = (t_fwd + t_bwd + t_opt) / a.steps
    print(json.dumps({"what": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(), "step_s": step,
                      "best_step_s": best, "tok_s": B * T / step, "forward_s": t_fwd / a.steps,
                      "backward_s": t_bwd / a.steps, "optimizer_s": t_opt / a.steps,
                      "losses": [round(x, 6) for x in losses]}))


if __name__ == "__main__":
    main()
