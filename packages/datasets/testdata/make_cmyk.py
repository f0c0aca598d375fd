"""Writes cmyk.jpg (a 16x8 CMYK JPEG as Photoshop and PIL save them: an Adobe APP14 marker
and inverted samples) and cmyk.json (PIL's decode of it, convert("RGB")) ONCE.

Run with Pillow (pip install pillow): python3 make_cmyk.py
The outputs are committed; the tests never need Python.
"""
import json

import PIL
from PIL import Image

img = Image.new("CMYK", (16, 8))
px = img.load()
for y in range(8):
    for x in range(16):
        px[x, y] = (x * 16, y * 32, 255 - x * 12, (x * 7 + y * 23) % 200)
img.save("cmyk.jpg", quality=95)
back = Image.open("cmyk.jpg")
assert back.mode == "CMYK" and "adobe" in back.info
rgb = back.convert("RGB")
data = [v for y in range(8) for x in range(16) for v in rgb.getpixel((x, y))]
with open("cmyk.json", "w") as f:
    json.dump({"pillow": PIL.__version__, "width": 16, "height": 8, "rgb": data}, f)
    f.write("\n")
