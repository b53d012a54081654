# Regenerates the resize reference data with Debian's python3-pil:
#   /usr/bin/python3 tests/data/resize/make_resize_data.py   (from the repository root or here)
# source.png is a deterministic RGB test pattern; out_WxH.png are PIL BICUBIC resizes of it;
# smart_resize.json holds the official smart_resize target sizes for some inputs.
import json, os
import numpy as np
import PIL
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)
H, W = 41, 53
yy, xx = np.mgrid[0:H, 0:W]
img = np.stack([xx * 255 // (W - 1), yy * 255 // (H - 1), ((xx // 4 + yy // 4) % 2) * 255], -1).astype(np.float64)
img[10:20, 30:45] = [250, 5, 128]  # sharp edges make ringing and clamping visible
img = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
src = Image.fromarray(img, 'RGB')
src.save(os.path.join(here, 'source.png'))
sizes = [(17, 29), (31, 13), (97, 60), (20, 90), (53, 23), (106, 41), (8, 8), (160, 128)]
for w, h in sizes:
    src.resize((w, h), Image.BICUBIC).save(os.path.join(here, f'out_{w}x{h}.png'))


def smart_size(width, height, area, ds_factor=16):  # input_utils.py::smart_resize's size rule
    aspect_ratio = width / height
    new_height = int((area / aspect_ratio) ** 0.5)
    new_width = int(new_height * aspect_ratio)
    new_height = ((new_height + ds_factor // 2) // ds_factor) * ds_factor
    new_width = ((new_width + ds_factor // 2) // ds_factor) * ds_factor
    return new_width, new_height


cases = []
for w, h, area in [(1024, 768, 1048576), (1920, 1080, 1048576), (800, 1200, 1048576), (3000, 1000, 1048576),
                   (1024, 1024, 518400), (64, 64, 4096), (53, 41, 518400), (640, 480, 518400), (1, 1000, 1048576),
                   (333, 777, 250000), (4000, 30, 1048576), (1023, 1025, 1048576)]:
    nw, nh = smart_size(w, h, area)
    cases.append({'width': w, 'height': h, 'area': area, 'new_width': nw, 'new_height': nh})
json.dump({'pillow': PIL.__version__, 'sizes': [list(s) for s in sizes], 'smart_resize': cases},
          open(os.path.join(here, 'reference.json'), 'w'), indent=1)
