"""Generates scipy_reference.json once (Debian python3-scipy 1.10.1, numpy 1.24.2).

The surface distances are medpy.metric.binary's private __surface_distances written out
with the same scipy calls (medpy itself is not packaged by Debian):
    border = mask ^ binary_erosion(mask, structure=generate_binary_structure(ndim, 1), iterations=1)
    dt = distance_transform_edt(~reference_border, sampling=spacing); sds = dt[result_border]
hd95 = numpy.percentile(numpy.hstack((sds_ab, sds_ba)), 95) as medpy.metric.binary.hd95.
Run: /usr/bin/python3 gen_scipy_reference.py > scipy_reference.json
"""
import json
import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt, generate_binary_structure, gaussian_filter


def surface(mask):
    fp = generate_binary_structure(mask.ndim, 1)
    return mask ^ binary_erosion(mask, structure=fp, iterations=1)


def sds(result, reference, spacing):
    rb = surface(result)
    fb = surface(reference)
    dt = distance_transform_edt(~fb, sampling=spacing)
    return dt[rb]


def blob(rng, shape, sigma, level):
    noise = gaussian_filter(rng.standard_normal(shape), sigma)
    return noise > level


rng = np.random.default_rng(20240527)
cases = []
configs = [
    ((7, 9, 11), (1.0, 1.0, 1.0), 1.2),
    ((6, 10, 8), (2.5, 0.8, 0.8), 1.0),
    ((12, 5, 9), (0.7, 1.9, 1.3), 1.5),
    ((1, 8, 9), (3.0, 1.0, 1.0), 1.0),  # a one-slice volume: every voxel is surface
    ((13, 17), (1.0, 1.0), 1.5),
    ((9, 14), (0.5, 2.0), 1.2),
    ((23,), (1.7,), 1.5),
]
for shape, spacing, sigma in configs:
    for k in range(2):
        a = blob(rng, shape, sigma, 0.05 * k)
        b = blob(rng, shape, sigma, -0.05 * k)
        if a.sum() == 0 or b.sum() == 0:
            continue
        ab = sds(a, b, spacing)
        ba = sds(b, a, spacing)
        pooled = np.hstack((ab, ba))
        inter = np.count_nonzero(a & b)
        cases.append({
            "shape": list(shape),
            "spacing": list(spacing),
            "a": a.astype(np.uint8).ravel().tolist(),
            "b": b.astype(np.uint8).ravel().tolist(),
            "surface_a": surface(a).astype(np.uint8).ravel().tolist(),
            "ab": ab.tolist(),
            "ba": ba.tolist(),
            "hd95": float(np.percentile(pooled, 95)),
            "hd": float(max(ab.max(), ba.max())),
            "asd": float(ab.mean()),
            "assd_pooled": float(pooled.mean()),
            "dc": 2.0 * inter / float(a.sum() + b.sum()),
            "edt_a": distance_transform_edt(a, sampling=spacing).ravel().tolist(),
        })

percentiles = []
for n in [1, 2, 3, 7, 20, 101]:
    v = rng.random(n) * 10
    for q in [0, 5, 50, 95, 99.5, 100]:
        percentiles.append({"values": v.tolist(), "q": q, "expected": float(np.percentile(v, q))})

organs = rng.random(8)
print(json.dumps({
    "generator": "gen_scipy_reference.py, scipy 1.10.1, numpy 1.24.2",
    "cases": cases,
    "percentiles": percentiles,
    "organ_mean": {"values": organs.tolist(), "np_mean": float(np.mean(organs))},
}))
