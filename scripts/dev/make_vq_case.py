# Makes an extra `kind: vq` fixture case by running the official IBQ modules (model.py,
# quantize.py) on a random model: unseen configs (attention at several levels, z_channels !=
# embed_dim, non-square images, wrapped checkpoints) for local checks.
#   git --git-dir=<Emu3.5 mirror> archive HEAD src/vision_tokenizer | tar -x -C OFFICIAL
#   EMU_OFFICIAL=OFFICIAL /usr/bin/python3 scripts/dev/make_vq_case.py OUT H W SEED CONFIG_JSON WRAPPED(0/1)
# einops (imported by quantize.py, unused at inference) may be stubbed via EMU_STUBS.
import sys, os, json, struct, importlib.util
sys.path.insert(0, os.environ.get('EMU_STUBS', '/tmp/vq/stubs'))
import torch, numpy as np
from PIL import Image
base = os.environ.get('EMU_OFFICIAL', '/tmp/vq/official') + '/src/vision_tokenizer'
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m
model = load('model', base + '/modules/diffusionmodules/model.py')
quant = load('quantize', base + '/modules/vqvae/quantize.py')

out, H, W, seed, cfgjson, wrapped = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6] == '1'
cfg = json.loads(cfgjson)
torch.manual_seed(seed)
class IBQ(torch.nn.Module):
    def __init__(s, ddconfig, n_embed, embed_dim, **kw):
        super().__init__()
        s.encoder = model.Encoder(**ddconfig); s.decoder = model.Decoder(**ddconfig)
        s.quantize = quant.IndexPropagationQuantize(n_embed, embed_dim, 0.25, False)
        s.quant_conv = torch.nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        s.post_quant_conv = torch.nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)
m = IBQ(**cfg).eval()
with torch.no_grad():
    for n, p in m.named_parameters():
        if 'norm' in n and n.endswith('weight'): p.copy_(1 + 0.1 * torch.randn_like(p))
        elif 'norm' in n and n.endswith('bias'): p.copy_(0.1 * torch.randn_like(p))
        elif 'embedding' in n: p.copy_(torch.randn_like(p))
os.makedirs(out, exist_ok=True)
sd = m.state_dict()
torch.save({'state_dict': sd, 'epoch': 3, 'global_step': 10} if wrapped else sd, out + '/model.ckpt')
import yaml
with open(out + '/config.yaml', 'w') as f: yaml.safe_dump(dict(cfg, beta=0.25, extra_key='x'), f)
rng = np.random.default_rng(seed)
yy, xx = np.mgrid[0:H, 0:W]
img = np.stack([(xx * 255 // W), (yy * 255 // H), ((xx + yy) * 7) % 256], -1).astype(np.float64)
img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
Image.fromarray(img).save(out + '/input.png')
x = torch.tensor(np.array(Image.open(out + '/input.png').convert('RGB')) / 127.5 - 1.0).float().permute(2, 0, 1)[None]
with torch.no_grad():
    lat = m.quant_conv(m.encoder(x))
    _, _, (_, _, ind) = m.quantize(lat)
    h, w = H // 16, W // 16
    codes = ind.view(h, w)
    logits = torch.einsum('d h w, n d -> h w n', lat[0], m.quantize.embedding.weight)
    top = logits.topk(2, dim=-1).values
    q = m.quantize.get_codebook_entry(codes[None], shape=(1, h, w, cfg['embed_dim']))
    dec = m.decoder(m.post_quant_conv(q))[0]
    u8 = ((dec.permute(1, 2, 0) + 1.0) * 127.5).clamp(0, 255).numpy().astype(np.uint8)
tensors = {'image': x[0], 'codes': codes, 'decoded': dec, 'decoded_u8': torch.from_numpy(u8), 'latent': lat[0], 'code_margin': top[..., 0] - top[..., 1]}
dt = {torch.float32: 'F32', torch.int64: 'I64', torch.uint8: 'U8'}
hdr, off, blobs = {}, 0, []
for k, v in tensors.items():
    b = v.contiguous().numpy().tobytes(); hdr[k] = {'dtype': dt[v.dtype], 'shape': list(v.shape), 'data_offsets': [off, off + len(b)]}; off += len(b); blobs.append(b)
hb = json.dumps(hdr).encode(); hb += b' ' * ((8 - len(hb) % 8) % 8)
with open(out + '/expect.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(hb))); f.write(hb); [f.write(b) for b in blobs]
case = {'kind': 'vq', 'description': 'generated locally with the official model code', 'files': {'config': 'config.yaml', 'checkpoint': 'model.ckpt', 'image': 'input.png', 'expect': 'expect.safetensors'},
        'tolerances': {'codes_match_min_fraction': 0.99, 'decoded_mean_abs': 1e-3, 'decoded_max_abs': 1e-2, 'latent_max_abs': 1e-3, 'image_max_abs': 1e-6, 'decoded_u8_max_abs': 1},
        'measured': {'min_code_margin': float((top[..., 0] - top[..., 1]).min()), 'decoded_abs_max': float(dec.abs().max()), 'latent_abs_max': float(lat.abs().max())}}
json.dump(case, open(out + '/case.json', 'w'), indent=1)
print(case['measured'])
