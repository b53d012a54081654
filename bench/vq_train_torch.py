#!/usr/bin/env python3
# PyTorch eager autograd baseline for `bench_vq_train`: one IBQ training step (encoder,
# index back-propagation quantizer with its losses, decoder, L1 + L2 reconstruction,
# backward, AdamW) on the same small model, batch and thread count.
#   OMP_NUM_THREADS=T /usr/bin/python3 bench/vq_train_torch.py [BATCH] [STEPS]
# Layers come from bench/vq_torch.py (written from the architecture description).
import os, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vq_torch as V  # noqa: E402

MINI = dict(ch=32, ch_mult=[1, 2, 2, 4], num_res_blocks=1, attn_resolutions=[], resolution=64,
            z_channels=32, in_channels=3, out_ch=3, double_z=False, dropout=0.0)
N_EMBED, EMBED_DIM, BETA = 512, 32, 0.25


def attn_batched(s, x):  # vq_torch's block is written for batch 1
    b, c, h, w = x.shape
    n = s.norm(x)
    q = s.q(n).reshape(b, c, h * w).transpose(1, 2)
    k, v = s.k(n).reshape(b, c, h * w), s.v(n).reshape(b, c, h * w)
    a = torch.softmax(q @ k * c ** -0.5, dim=2)
    return x + s.proj_out((v @ a.transpose(1, 2)).reshape(b, c, h, w))


V.Attn.forward = attn_batched


def step(model, opt, x):
    z = model.quant_conv(model.encoder(x))
    E = model.quantize.embedding.weight
    logits = torch.einsum('bdhw,nd->bnhw', z, E)
    soft = F.softmax(logits, dim=1)
    ind = soft.max(1, keepdim=True)[1]
    hard = torch.zeros_like(logits).scatter_(1, ind, 1.0)
    one_hot = hard - soft.detach() + soft
    zq = torch.einsum('bnhw,nd->bdhw', one_hot, E)
    zq2 = torch.einsum('bnhw,nd->bdhw', hard, E)
    quant = ((zq - z) ** 2).mean() + ((zq2.detach() - z) ** 2).mean() + BETA * ((zq2 - z.detach()) ** 2).mean()
    rec = model.decoder(model.post_quant_conv(zq))
    d = rec - x
    loss = d.abs().mean() + (d * d).mean() + quant
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.manual_seed(0)
    model = V.IBQ(MINI, N_EMBED, EMBED_DIM)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    x = torch.rand(batch, 3, 64, 64) * 2 - 1
    step(model, opt, x)  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(model, opt, x)
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters())
    best, mean = min(times), sum(times) / len(times)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} params {params} batch {batch}: "
          f"best {best:.3f} s/step ({batch / best:.2f} img/s), mean {mean:.3f} s/step ({batch / mean:.2f} img/s)")


if __name__ == '__main__':
    main()
