#!/usr/bin/python3
"""Writes small torch.save checkpoints exercising what the C++ reader must handle,
and the values it must find, as safetensors written by hand (no extra library).

Run with Debian's /usr/bin/python3 (python3-torch); outputs are committed:
  wrapped.ckpt   {"state_dict": {...}, "epoch": 3, "global_step": 10}
  bare.pt        a bare OrderedDict state_dict
  expect.safetensors  every tensor, contiguous, as the reader must return it
"""
import json
import os
import struct
from collections import OrderedDict

import torch

here = os.path.dirname(os.path.abspath(__file__)) + "/torch_ckpt"
torch.manual_seed(7)

base = torch.randn(6, 5)
tensors = OrderedDict()
tensors["dense.weight"] = torch.randn(4, 3)
tensors["half"] = torch.randn(3, 2).half()
tensors["bf16"] = torch.randn(5).bfloat16()
tensors["long"] = torch.arange(-3, 4, dtype=torch.int64)
tensors["int"] = torch.tensor([1, -2, 3], dtype=torch.int32)
tensors["bytes"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
tensors["transposed"] = base.t()          # non-contiguous view
tensors["row_slice"] = base[2:4]          # shares base's storage, non-zero offset
tensors["base"] = base
tensors["scalar"] = torch.tensor(2.5)
tensors["param"] = torch.nn.Parameter(torch.randn(2, 2))

torch.save(tensors, here + "/bare.pt")
torch.save({"state_dict": tensors, "epoch": 3, "global_step": 10}, here + "/wrapped.ckpt")

names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}
header, blobs, offset = {}, [], 0
for name, t in tensors.items():
    t = t.detach().contiguous()
    raw = t.view(torch.uint8).numpy().tobytes() if t.dim() > 0 else t.reshape(1).view(torch.uint8).numpy().tobytes()
    header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
text = json.dumps(header).encode()
text += b" " * ((8 - len(text) % 8) % 8)
with open(here + "/expect.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
