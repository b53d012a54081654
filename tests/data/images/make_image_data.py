# Regenerates the image-decoding reference data with Debian's python3-pil:
#   /usr/bin/python3 tests/data/images/make_image_data.py
# Each input (gray, gray+alpha, RGBA and palette PNGs, colour and gray JPEGs) comes with <name>.rgb.png = PIL's Image.open(input).convert("RGB").
import os
import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
H, W = 19, 23
rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
a = rng.integers(0, 256, (H, W), dtype=np.uint8)
inputs = {
    'gray.png': lambda p: Image.fromarray(rgb[..., 0], 'L').save(p),
    'gray_alpha.png': lambda p: Image.fromarray(np.stack([rgb[..., 1], a], -1), 'LA').save(p),
    'rgba.png': lambda p: Image.fromarray(np.concatenate([rgb, a[..., None]], -1), 'RGBA').save(p),
    'palette.png': lambda p: Image.fromarray(rgb, 'RGB').quantize(16).save(p),
    'color.jpg': lambda p: Image.fromarray(rgb).save(p, quality=90),
    'gray.jpg': lambda p: Image.fromarray(rgb[..., 2], 'L').save(p, quality=90),
}
for name, make in inputs.items():
    path = os.path.join(here, name)
    make(path)
    Image.open(path).convert('RGB').save(os.path.join(here, name.rsplit('.', 1)[0] + '_' + name.rsplit('.', 1)[1] + '.rgb.png'))
