"""The 'eq' method: per layer, the input scale that makes the int8 layer's output
most like the float one.

Starting from the KL scale, candidates from half to twice it (a fixed geometric
grid) are tried on a sample of the calibration images: each candidate's int8
output (layer_sim, ncnn's arithmetic) is compared with the float output by cosine
similarity, averaged over the images, at a fixed sample of output positions.
Layers reading the same data (the outputs of one Split) share one input scale,
chosen for their summed similarity, so the layer before them can still requantize
into all of them.
"""

from __future__ import annotations

import numpy as np

from facedge.calibration.compare import cosine
from facedge.calibration.images import read_image
from facedge.calibration.layer_sim import ConvGeometry, float_from_patches, int8_from_patches, patches, sample_positions
from facedge.base.progress import progress

FACTORS = np.geomspace(0.5, 2.0, 13)  # includes 1.0: the search never does worse than its start on the sample
MAX_IMAGES = 8
POSITIONS_PER_IMAGE = 384
SIMILARITY_DECIMALS = 9  # compare rounded similarities: ties resolve the same on every machine


def search_input_scales(detector, fused_model, quant_layers, weights_int8, scales, image_paths) -> dict:
    """{layer name: input scale} chosen by output similarity. `scales` holds each
    layer's starting LayerScales; `weights_int8` its int8 weights; `fused_model` the
    layers with the activations they will have in the int8 model."""
    by_source = {}
    for q in quant_layers:
        by_source.setdefault(q.source, []).append(q)
    layers = {layer.name: layer for layer in fused_model.layers}
    geometry = {q.name: ConvGeometry.of(layers[q.name]) for q in quant_layers}
    totals = {src: np.zeros(len(FACTORS)) for src in by_source}
    paths = list(image_paths)[:MAX_IMAGES]
    for path in progress(paths, total=len(paths), desc="calibration: eq search"):
        img = read_image(path)
        if img is None:
            continue
        blobs = detector.extract_blobs(img, sorted(by_source))
        for src, group in by_source.items():
            x = blobs[src]
            base = float(scales[group[0].name].input)
            for q in group:
                layer = layers[q.name]
                g = geometry[q.name]
                bias = layer.chunk("bias").values if layer.chunk("bias") is not None else None
                positions = None if g.kind == "fc" else sample_positions(g.output_shape(x.shape), POSITIONS_PER_IMAGE)
                cols = patches(g, x, positions)
                ref = float_from_patches(g, cols, layer.chunk("weight").values, bias).ravel()
                for k, f in enumerate(FACTORS):
                    s = np.float32(base * f)
                    out = int8_from_patches(g, cols, weights_int8[q.name], scales[q.name].weight, s, bias).ravel()
                    totals[src][k] += cosine(ref, out)
    chosen = {}
    for src, group in by_source.items():
        score = np.round(totals[src], SIMILARITY_DECIMALS)
        order = np.argsort(np.abs(np.log(FACTORS)), kind="stable")  # equal scores: the factor nearest 1
        best = int(order[np.argmax(score[order])])
        for q in group:
            chosen[q.name] = np.float32(float(scales[group[0].name].input) * FACTORS[best])
    return chosen
