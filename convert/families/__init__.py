"""The supported families by name, and which one a checkpoint is.

A family is recognised by building its network for the checkpoint's class count and
comparing state_dict keys and shapes: a checkpoint is of a family when every key and
every shape fits. The family modules import torch, so they load on first use.
"""

from __future__ import annotations

import importlib

from facedge.base.errors import FacedgeError

# family name -> module under facedge.convert.families that defines it
_MODULES = {
    "ultraface-slim": "ultraface",
    "ultraface-rfb": "ultraface",
    "blazeface-fpn-ssh": "blazeface",
    "retinaface-mnet": "retinaface",
    "yunet-n": "yunet",
    "yunet-s": "yunet",
}
NAMES = tuple(_MODULES)
SHAPE_LIMIT = 8  # layers of other shapes named in an error, at most


def get(name: str):
    if name not in _MODULES:
        raise FacedgeError(f"--arch {name}: unknown architecture (known: {', '.join(NAMES)})")
    module = importlib.import_module(f"facedge.convert.families.{_MODULES[name]}")
    return next(f for f in module.FAMILIES if f.name == name)


def _num_classes(family, state_dict):
    """The checkpoint's class count for this family, or None with the reason."""
    try:
        n = family.num_classes(state_dict)
    except KeyError as e:
        return None, f"no key {e.args[0]}"
    if n < 2:
        return None, f"score head for {n} classes (need background + face)"
    return n, ""


def fit(family, state_dict, checkpoint_name):
    """(network with the checkpoint's weights loaded, num_classes), or a FacedgeError that
    lists the keys and shapes that did not fit."""
    from facedge.convert.checkpoint import compare, load_into

    num_classes, why = _num_classes(family, state_dict)
    if num_classes is None:
        raise FacedgeError(f"{checkpoint_name}: not a {family.name} checkpoint ({why}; "
                           f"{compare(family.build(2), state_dict).summary()})")
    net = family.build(num_classes)
    load_into(net, state_dict, f"{checkpoint_name} as {family.name}")
    return net, num_classes


def detect(state_dict, checkpoint_name):
    """The one family whose network fits the checkpoint exactly; otherwise an error that
    says, per family, what did not fit."""
    from facedge.convert.checkpoint import compare

    fitting, misfits, same_layers = [], [], []
    for name in NAMES:
        family = get(name)
        num_classes, why = _num_classes(family, state_dict)
        if num_classes is None:
            misfits.append(f"{name}: {why}")
            continue
        mismatch = compare(family.build(num_classes), state_dict)
        if mismatch.empty():
            fitting.append(family)
        else:
            misfits.append(f"{name}: {mismatch.summary(limit=2)}")
            if not (mismatch.missing or mismatch.unexpected):
                same_layers.append((name, mismatch))
    if len(fitting) == 1:
        return fitting[0]
    if fitting:  # cannot happen with the current families; say so rather than guess
        raise FacedgeError(f"{checkpoint_name}: fits several architectures "
                           f"({', '.join(f.name for f in fitting)}); choose one with --arch")
    if same_layers:
        # every layer name of a family but other shapes: another width of it, most
        # likely; name each layer that differs rather than every family's first misfit
        name, mismatch = min(same_layers, key=lambda item: len(item[1].shapes))
        by_layer = {}  # layer -> its first tensor of another shape (weight before bias)
        for key, theirs, ours in mismatch.shapes:
            by_layer.setdefault(key.rsplit(".", 1)[0], (key.rsplit(".", 1)[1], theirs, ours))
        layers = "; ".join(f"{layer} {tensor} {tuple(c)} vs {tuple(n)}"
                           for layer, (tensor, c, n) in list(by_layer.items())[:SHAPE_LIMIT])
        more = f" (+{len(by_layer) - SHAPE_LIMIT} more layers)" if len(by_layer) > SHAPE_LIMIT else ""
        raise FacedgeError(f"{checkpoint_name}: has the layers of {name}, but {len(by_layer)} of them with other "
                           f"shapes (another width or variant of it?); checkpoint vs {name}: {layers}{more}")
    raise FacedgeError(f"{checkpoint_name}: fits none of the supported architectures ({'; '.join(misfits)})")
