#!/usr/bin/env python3
# PyTorch eager baseline for `bench_vq`: the same IBQ layers (written here from the
# architecture description, not the official code), the same weights, the same threads.
#   /usr/bin/python3 bench/vq_torch.py make DIR        # random mid-size model -> DIR/config.yaml + model.safetensors
#   /usr/bin/python3 bench/vq_torch.py time DIR SIZE THREADS [REPEATS]
#   /usr/bin/python3 bench/vq_torch.py make-released DIR  # released-size (455 M) random model, for memory checks
import json, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MID = dict(ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], resolution=256,
           z_channels=256, in_channels=3, out_ch=3, double_z=False, dropout=0.0)
N_EMBED, EMBED_DIM = 16384, 256
RELEASED = dict(MID, ch=256, num_res_blocks=4)  # spec section 4.2; 131072 codes


def norm(c): return nn.GroupNorm(32, c, eps=1e-6)


class Res(nn.Module):
    def __init__(s, i, o):
        super().__init__()
        s.norm1, s.conv1, s.norm2, s.conv2 = norm(i), nn.Conv2d(i, o, 3, 1, 1), norm(o), nn.Conv2d(o, o, 3, 1, 1)
        if i != o: s.nin_shortcut = nn.Conv2d(i, o, 1)
    def forward(s, x):
        h = s.conv2(F.silu(s.norm2(s.conv1(F.silu(s.norm1(x))))))
        return (s.nin_shortcut(x) if hasattr(s, 'nin_shortcut') else x) + h


class Attn(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.norm, s.q, s.k, s.v, s.proj_out = norm(c), *[nn.Conv2d(c, c, 1) for _ in range(4)]
    def forward(s, x):
        b, c, h, w = x.shape
        n = s.norm(x)
        q = s.q(n).reshape(c, h * w).t()
        k, v = s.k(n).reshape(c, h * w), s.v(n).reshape(c, h * w)
        a = torch.softmax(q @ k * c ** -0.5, dim=1)
        return x + s.proj_out((v @ a.t()).reshape(1, c, h, w))


class Level(nn.Module): pass


class Encoder(nn.Module):
    def __init__(s, ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels, **_):
        super().__init__()
        s.conv_in = nn.Conv2d(3, ch, 3, 1, 1)
        s.down, res, mult_in = nn.ModuleList(), resolution, [1] + ch_mult
        for i, m in enumerate(ch_mult):
            lv, bi = Level(), ch * mult_in[i]
            lv.block, lv.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                lv.block.append(Res(bi, ch * m)); bi = ch * m
                if res in attn_resolutions: lv.attn.append(Attn(bi))
            if i != len(ch_mult) - 1:
                lv.downsample = Level(); lv.downsample.conv = nn.Conv2d(bi, bi, 3, 2, 0); res //= 2
            s.down.append(lv)
        s.mid = Level(); s.mid.block_1, s.mid.attn_1, s.mid.block_2 = Res(bi, bi), Attn(bi), Res(bi, bi)
        s.norm_out, s.conv_out = norm(bi), nn.Conv2d(bi, z_channels, 3, 1, 1)
    def forward(s, x):
        h = s.conv_in(x)
        for lv in s.down:
            for j, b in enumerate(lv.block):
                h = b(h)
                if len(lv.attn): h = lv.attn[j](h)
            if hasattr(lv, 'downsample'): h = lv.downsample.conv(F.pad(h, (0, 1, 0, 1)))
        h = s.mid.block_2(s.mid.attn_1(s.mid.block_1(h)))
        return s.conv_out(F.silu(s.norm_out(h)))


class Decoder(nn.Module):
    def __init__(s, ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels, **_):
        super().__init__()
        bi, res = ch * ch_mult[-1], resolution // 2 ** (len(ch_mult) - 1)
        s.conv_in = nn.Conv2d(z_channels, bi, 3, 1, 1)
        s.mid = Level(); s.mid.block_1, s.mid.attn_1, s.mid.block_2 = Res(bi, bi), Attn(bi), Res(bi, bi)
        s.up = nn.ModuleList([None] * len(ch_mult))
        for i in reversed(range(len(ch_mult))):
            lv = Level(); lv.block, lv.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                lv.block.append(Res(bi, ch * ch_mult[i])); bi = ch * ch_mult[i]
                if res in attn_resolutions: lv.attn.append(Attn(bi))
            if i != 0:
                lv.upsample = Level(); lv.upsample.conv = nn.Conv2d(bi, bi, 3, 1, 1); res *= 2
            s.up[i] = lv
        s.norm_out, s.conv_out = norm(bi), nn.Conv2d(bi, 3, 3, 1, 1)
    def forward(s, z):
        h = s.mid.block_2(s.mid.attn_1(s.mid.block_1(s.conv_in(z))))
        for lv in reversed(s.up):
            for j, b in enumerate(lv.block):
                h = b(h)
                if len(lv.attn): h = lv.attn[j](h)
            if hasattr(lv, 'upsample'): h = lv.upsample.conv(F.interpolate(h, scale_factor=2.0, mode='nearest'))
        return s.conv_out(F.silu(s.norm_out(h)))


class IBQ(nn.Module):
    def __init__(s, dd, n_embed, embed_dim):
        super().__init__()
        s.encoder, s.decoder = Encoder(**dd), Decoder(**dd)
        s.quantize = Level(); s.quantize.embedding = nn.Embedding(n_embed, embed_dim)
        s.quant_conv, s.post_quant_conv = nn.Conv2d(dd['z_channels'], embed_dim, 1), nn.Conv2d(embed_dim, dd['z_channels'], 1)
    def encode(s, x):
        z = s.quant_conv(s.encoder(x))[0]
        d, h, w = z.shape
        return (z.reshape(d, h * w).t() @ s.quantize.embedding.weight.t()).argmax(1).reshape(h, w)
    def decode(s, codes):
        h, w = codes.shape
        z = s.quantize.embedding.weight[codes.reshape(-1)].t().reshape(1, -1, h, w)
        return s.decoder(s.post_quant_conv(z))[0]


def save_safetensors(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, v in tensors.items():
        b = v.detach().contiguous().numpy().tobytes()
        hdr[k] = {'dtype': {torch.float32: 'F32', torch.int64: 'I64'}[v.dtype], 'shape': list(v.shape),
                  'data_offsets': [off, off + len(b)]}
        off += len(b); blobs.append(b)
    h = json.dumps(hdr).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h); [f.write(b) for b in blobs]


def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]; hdr = json.loads(f.read(n)); data = f.read()
    out = {}
    for k, m in hdr.items():
        if k == '__metadata__': continue
        a, b = m['data_offsets']
        dt = {'F32': np.float32, 'I64': np.int64}[m['dtype']]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dt).reshape(m['shape']).copy())
    return out


def make(d, dd=MID, n_embed=N_EMBED):
    import os
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    m = IBQ(dd, n_embed, EMBED_DIM)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if 'norm' in n: p.copy_((1.0 if n.endswith('weight') else 0.0) + 0.1 * torch.randn_like(p))
    save_safetensors(d + '/model.safetensors', m.state_dict())
    with open(d + '/config.yaml', 'w') as f:
        f.write('ddconfig:\n' + ''.join(f'  {k}: {json.dumps(v)}\n' for k, v in dd.items()) +
                f'n_embed: {n_embed}\nembed_dim: {EMBED_DIM}\n')


def timed(fn, repeats):
    # Best wall time, and the process CPU time of that run (robust on a loaded machine
    # when single-threaded).
    best, cpu = 1e30, 0.0
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time(); out = fn()
        w = time.perf_counter() - t
        if w < best: best, cpu = w, time.process_time() - c
    return (best, cpu), out


def bench(d, size, threads, repeats):
    torch.set_num_threads(threads)
    m = IBQ(MID, N_EMBED, EMBED_DIM).eval()
    m.load_state_dict(load_safetensors(d + '/model.safetensors'))
    rng = np.random.default_rng(size)
    x = torch.from_numpy(rng.uniform(-1, 1, (1, 3, size, size)).astype(np.float32))
    with torch.no_grad():
        te, codes = timed(lambda: m.encode(x), repeats)
        td, img = timed(lambda: m.decode(codes), repeats)
    save_safetensors(f'{d}/torch_{size}.safetensors', {'input': x[0], 'codes': codes, 'decoded': img})
    print(json.dumps({'size': size, 'threads': threads, 'torch_encode_s': round(te[0], 3), 'torch_decode_s': round(td[0], 3),
                      'torch_encode_cpu_s': round(te[1], 3), 'torch_decode_cpu_s': round(td[1], 3)}))


if __name__ == '__main__':
    if sys.argv[1] == 'make': make(sys.argv[2])
    elif sys.argv[1] == 'make-released': make(sys.argv[2], RELEASED, 131072)
    else: bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 2)
