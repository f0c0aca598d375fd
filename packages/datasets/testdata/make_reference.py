"""Generates the reference numbers of the resize / zoom / rotate / normalise tests ONCE.

Run with Debian's python3-torch 1.13, python3-torchvision 0.14, python3-scipy 1.10,
python3-pil and python3-h5py:  /usr/bin/python3 make_reference.py
The outputs (reference.json, numpy_*.np[yz], h5py_volume.h5, progressive.jpg,
baseline.jpg) are committed; the tests never need Python.
"""
import json

import h5py
import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from scipy import ndimage
from scipy.ndimage import zoom

rng = np.random.default_rng(1234)
out = {"versions": {"torch": torch.__version__, "scipy": __import__("scipy").__version__}}


def arr(a):
    return {"shape": list(a.shape), "dtype": str(a.dtype), "data": [float(v) for v in np.asarray(a).ravel()]}


# 1. TF.resize on float64 tensors (bilinear, antialias None -> False on tensors) ------------
resize = []
for (c, h, w), (oh, ow) in [((3, 13, 17), (20, 11)), ((1, 30, 25), (16, 16)), ((2, 7, 9), (48, 40))]:
    x = rng.uniform(0, 255, size=(c, h, w))
    y = TF.resize(torch.from_numpy(x), [oh, ow]).numpy()
    y2 = torch.nn.functional.interpolate(torch.from_numpy(x)[None], size=(oh, ow), mode="bilinear", align_corners=False)[0].numpy()
    assert np.abs(y - y2).max() == 0
    resize.append({"input": arr(x), "output": arr(y)})
m = (rng.uniform(size=(1, 19, 23)) > 0.5).astype(np.float64)
resize.append({"input": arr(m), "output": arr(TF.resize(torch.from_numpy(m), [16, 16]).numpy())})
out["resize_bilinear"] = resize

# 2. TF.rotate on tensors (nearest, no expand, fill 0) ---------------------------------------
rotate = []
for (c, h, w), angle in [((3, 12, 15), 30.5), ((1, 11, 11), 90.0), ((2, 10, 13), 200.25), ((1, 16, 9), 333.0)]:
    x = rng.uniform(1, 255, size=(c, h, w))
    y = TF.rotate(torch.from_numpy(x), angle).numpy()
    rotate.append({"angle": angle, "input": arr(x), "output": arr(y)})
out["rotate_nearest"] = rotate

# 3. scipy.ndimage.zoom order 3 and order 0 (mode constant, grid_mode False) -----------------
zooms = []
for (h, w), (oh, ow), dtype in [((32, 32), (14, 14), np.float32), ((10, 12), (23, 17), np.float64), ((40, 36), (17, 15), np.float64), ((512, 3), (224, 3), np.float32)]:
    x = rng.uniform(0, 1, size=(h, w)).astype(dtype)
    y3 = zoom(x, (oh / h, ow / w), order=3)  # 512 -> 224: scipy leaves the last row 0 (511.00000000000006 > 511)
    assert y3.shape == (oh, ow), y3.shape
    lab = rng.integers(0, 9, size=(h, w)).astype(np.float32)
    y0 = zoom(lab, (oh / h, ow / w), order=0)
    zooms.append({"input": arr(x), "order3": arr(y3), "labels": arr(lab), "order0": arr(y0)})
out["zoom"] = zooms

# 4. scipy.ndimage.rotate order 0, reshape False ---------------------------------------------
nrot = []
for (h, w), angle in [((16, 16), -20), ((15, 18), 7), ((12, 12), 19), ((9, 14), -3)]:
    x = rng.uniform(0, 1, size=(h, w)).astype(np.float32)
    lab = rng.integers(0, 9, size=(h, w)).astype(np.float32)
    nrot.append({
        "angle": angle,
        "input": arr(x), "output": arr(ndimage.rotate(x, angle, order=0, reshape=False)),
        "labels": arr(lab), "labels_out": arr(ndimage.rotate(lab, angle, order=0, reshape=False)),
    })
out["ndimage_rotate"] = nrot

# 5. myNormalize (VM-UNet utils.py) on an RGB uint8 image ------------------------------------
img = rng.integers(0, 256, size=(6, 5, 3)).astype(np.uint8)
norm = (img - 157.561) / 26.706
norm = ((norm - np.min(norm)) / (np.max(norm) - np.min(norm))) * 255.0
out["my_normalize"] = {"mean": 157.561, "std": 26.706, "input_hwc": arr(img), "output_hwc": arr(norm)}

# 6. PIL convert('L') of RGB pixels (mask conversion) ----------------------------------------
rgb = rng.integers(0, 256, size=(4, 8, 3)).astype(np.uint8)
out["pil_L"] = {"input_hwc": arr(rgb), "output": arr(np.asarray(Image.fromarray(rgb).convert("L")))}

# 7. JPEG files written and decoded by PIL (libjpeg-turbo) -----------------------------------
yy, xx = np.mgrid[0:24, 0:40]
pic = np.stack([xx * 6, yy * 10, (xx + yy) * 4], -1).clip(0, 255).astype(np.uint8)
Image.fromarray(pic).save("progressive.jpg", quality=92, progressive=True)
Image.fromarray(pic).save("baseline.jpg", quality=92)
out["jpeg"] = {
    "progressive": arr(np.asarray(Image.open("progressive.jpg").convert("RGB"))),
    "baseline": arr(np.asarray(Image.open("baseline.jpg").convert("RGB"))),
}

# 8. numpy / h5py files as TransUNet's preprocessing writes them -----------------------------
img = rng.uniform(0, 1, size=(6, 7)).astype(np.float32)
lab = rng.integers(0, 9, size=(6, 7)).astype(np.float32)
np.savez("numpy_slice.npz", image=img, label=lab)
np.savez_compressed("numpy_slice_compressed.npz", image=img, label=lab)
np.save("numpy_fortran.npy", np.asfortranarray(rng.integers(-5, 5, size=(3, 4)).astype(">i4")))
vol = rng.uniform(0, 1, size=(3, 6, 7)).astype(np.float32)
vlab = rng.integers(0, 9, size=(3, 6, 7)).astype(np.float32)
with h5py.File("h5py_volume.h5", "w") as f:
    f.create_dataset("image", data=vol)
    f.create_dataset("label", data=vlab)
out["numpy_files"] = {
    "slice_image": arr(img), "slice_label": arr(lab),
    "fortran": arr(np.load("numpy_fortran.npy").astype(np.float64)),
    "volume_image": arr(vol), "volume_label": arr(vlab),
}

# 9. The whole official ISIC train transform chain on one small pair (VM-UNet utils.py):
#    myNormalize -> myToTensor -> [TF.hflip] -> [TF.vflip] -> [TF.rotate] -> TF.resize -------
img = rng.integers(0, 256, size=(19, 27, 3)).astype(np.uint8)
yy, xx = np.mgrid[0:19, 0:27]
msk = (((yy - 9) ** 2 / 30 + (xx - 11) ** 2 / 60) < 1).astype(np.uint8)[..., None] * 255 / 255.0
chain = []
for hflip, vflip, angle in [(False, False, None), (True, False, None), (False, True, 123.4), (True, True, 301.0)]:
    n = (img - 149.034) / 32.022
    n = ((n - np.min(n)) / (np.max(n) - np.min(n))) * 255.0
    ti, tm = torch.tensor(n).permute(2, 0, 1), torch.tensor(msk).permute(2, 0, 1)
    if hflip:
        ti, tm = TF.hflip(ti), TF.hflip(tm)
    if vflip:
        ti, tm = TF.vflip(ti), TF.vflip(tm)
    if angle is not None:
        ti, tm = TF.rotate(ti, angle), TF.rotate(tm, angle)
    ti, tm = TF.resize(ti, [24, 24]), TF.resize(tm, [24, 24])
    chain.append({"hflip": hflip, "vflip": vflip, "angle": angle, "image": arr(ti.numpy()), "mask": arr(tm.numpy())})
out["isic_chain"] = {"input_hwc": arr(img), "mask_hw": arr((msk[..., 0] * 255).astype(np.uint8)), "mean": 149.034, "std": 32.022, "cases": chain}

# 10. TransUNet's RandomGenerator chain on one slice (rot90+flip or ndimage.rotate, then zoom) ---
sl = rng.uniform(0, 1, size=(20, 14)).astype(np.float32)
sl_lab = rng.integers(0, 9, size=(20, 14)).astype(np.float32)
syn = []
for kind, k, axis, angle in [("rot-flip", 1, 0, 0), ("rot-flip", 3, 1, 0), ("rot-flip", 2, 0, 0), ("rotate", 0, 0, -20), ("rotate", 0, 0, 7), ("none", 0, 0, 0)]:
    im, lb = sl, sl_lab
    if kind == "rot-flip":
        im, lb = np.rot90(im, k), np.rot90(lb, k)
        im, lb = np.flip(im, axis=axis).copy(), np.flip(lb, axis=axis).copy()
    elif kind == "rotate":
        im = ndimage.rotate(im, angle, order=0, reshape=False)
        lb = ndimage.rotate(lb, angle, order=0, reshape=False)
    x, y = im.shape
    im = zoom(im, (9 / x, 9 / y), order=3)
    lb = zoom(lb, (9 / x, 9 / y), order=0)
    syn.append({"kind": kind, "k": k, "axis": axis, "angle": angle, "image": arr(im.astype(np.float32)), "label": arr(lb.astype(np.float32))})
out["synapse_chain"] = {"image": arr(sl), "label": arr(sl_lab), "size": 9, "cases": syn}

with open("reference.json", "w") as f:
    json.dump(out, f, separators=(",", ":"))
