#!/usr/bin/python3
"""PyTorch eager reference for bench_lm: the same decoder math (RMSNorm, QK-norm,
rotate-half RoPE, GQA, SwiGLU) over the same random weights (read from the
safetensors file bench_lm wrote), same thread count. Prints one JSON line.

  /usr/bin/python3 bench/lm_torch_ref.py --dir DIR --dtype f32|bf16 --threads 2 --prefill 512 --decode 16
F32 weights compute in float32; BF16 weights compute in bfloat16 as the official
runtime does (matmuls through oneDNN)."""
import argparse, json, struct, time
import numpy as np
import torch


def load_safetensors(path, dtype):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        if info["dtype"] == "F32":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).copy())
        elif info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            t = torch.from_numpy(u.view(np.float32)).to(torch.bfloat16)
        elif info["dtype"] == "I64":
            out[name] = torch.from_numpy(np.frombuffer(raw, dtype=np.int64).copy()).reshape(info["shape"])
            continue
        else:
            raise ValueError(info["dtype"])
        out[name] = t.reshape(info["shape"]).to(dtype)
    return out


class Model:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.H, self.Hk, self.hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        self.eps = cfg["rms_norm_eps"]
        self.inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, self.hd, 2).float() / self.hd))

    def rms(self, x, g):
        dt = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return g * x.to(dt)

    def rope(self, x, pos):
        f = torch.outer(pos.float(), self.inv_freq)
        emb = torch.cat((f, f), -1)
        cos, sin = emb.cos().to(x.dtype)[None, :, None, :], emb.sin().to(x.dtype)[None, :, None, :]
        h = self.hd // 2
        rot = torch.cat((-x[..., h:], x[..., :h]), -1)
        return x * cos + rot * sin

    def forward(self, ids, cache, start):
        B, S = ids.shape
        w = self.w
        x = w["model.embed_tokens.weight"][ids]
        pos = torch.arange(start, start + S)
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = self.rms(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].t()).view(B, S, self.H, self.hd)
            k = (h @ w[p + "self_attn.k_proj.weight"].t()).view(B, S, self.Hk, self.hd)
            v = (h @ w[p + "self_attn.v_proj.weight"].t()).view(B, S, self.Hk, self.hd)
            q = self.rope(self.rms(q, w[p + "self_attn.q_norm.weight"]), pos).transpose(1, 2)
            k = self.rope(self.rms(k, w[p + "self_attn.k_norm.weight"]), pos).transpose(1, 2)
            v = v.transpose(1, 2)
            if i in cache:
                k = torch.cat((cache[i][0], k), 2)
                v = torch.cat((cache[i][1], v), 2)
            cache[i] = (k, v)
            rep = self.H // self.Hk
            k = k.repeat_interleave(rep, 1)
            v = v.repeat_interleave(rep, 1)
            s = (q @ k.transpose(2, 3)) / (self.hd ** 0.5)
            if S > 1:
                T = k.shape[2]
                mask = torch.full((S, T), float("-inf")).triu(T - S + 1)
                s = s + mask.to(s.dtype)
            a = torch.softmax(s.float(), -1).to(q.dtype) @ v
            a = a.transpose(1, 2).reshape(B, S, self.H * self.hd)
            x = x + a @ w[p + "self_attn.o_proj.weight"].t()
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            g = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].t()) * (h @ w[p + "mlp.up_proj.weight"].t())
            x = x + g @ w[p + "mlp.down_proj.weight"].t()
        x = self.rms(x[:, -1:], w["model.norm.weight"])
        return (x @ w["lm_head.weight"].t()).float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=16)
    ap.add_argument("--prefill-runs", type=int, default=3)
    a = ap.parse_args()
    if a.prefill_runs < 1:
        ap.error("--prefill-runs must be at least 1")
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.dtype == "f32" else torch.bfloat16
    cfg = json.load(open(a.dir + "/config.json"))
    m = Model(cfg, load_safetensors(a.dir + "/model.safetensors", dtype))
    V = cfg["vocab_size"]
    ids = torch.tensor([(i * 7919 + 13) % V for i in range(a.prefill + a.decode)]).view(1, -1)
    with torch.inference_mode():
        # A prompt is prefilled many times in a session (every generation, both CFG streams):
        # one untimed full-size prefill, then the median of PREFILL_RUNS, as bench_lm reports.
        runs = []
        for r in range(a.prefill_runs + 1):
            cache = {}
            t = time.time()
            m.forward(ids[:, :a.prefill], cache, 0)
            if r > 0:
                runs.append(time.time() - t)
        prefill_s = sorted(runs)[len(runs) // 2]
        steps = []
        for i in range(a.decode):  # median step time, as bench_lm reports
            t = time.time()
            m.forward(ids[:, a.prefill + i: a.prefill + i + 1], cache, a.prefill + i)
            steps.append(time.time() - t)
        decode_s = sorted(steps)[len(steps) // 2]
    print(json.dumps({"what": "torch", "dtype": a.dtype, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "prefill_tokens": a.prefill,
                      "prefill_tok_s": round(a.prefill / prefill_s, 2), "decode_tok_s": round(1 / decode_s, 3)}))


if __name__ == "__main__":
    main()
