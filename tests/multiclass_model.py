"""A real multi-class checkpoint made from a shipped one, for the multi-class tests.

ULFD version-RFB-320 re-headed to three classes (background, face, mask) as a mask
detector trained with ULFD would be: the last layer of every classification head
gets a third output per anchor. Both face classes copy the checkpoint's face logit
and add an offset per anchor, so every face the original model finds is found by
this one, with a known best class: the class-2 offset wins on the anchors where it
is larger (even anchors of each level: +0.3 against -2), class 1 on the others
(+0.3 against -2). The losing class's logit is pushed down so the winner keeps about
the original face probability, and the demo photos give faces of both classes.
"""

from __future__ import annotations

CLASS_NAMES = ("face", "mask")
# per anchor: (offset of class 1, offset of class 2)
EVEN_ANCHOR_OFFSETS = (-2.0, 0.3)
ODD_ANCHOR_OFFSETS = (0.3, -2.0)


def make_three_class_checkpoint(source, dest):
    """Write the 3-class state_dict made from `source` (a 2-class ULFD checkpoint) to `dest`."""
    import torch

    state = torch.load(source, map_location="cpu", weights_only=True)
    out = dict(state)
    heads = sorted({k.rsplit(".", 1)[0] for k in state if k.startswith("classification_headers.")
                    and state[k].ndim == 4 and state[k].shape[1] != 1})  # the last conv of each head
    for head in heads:
        w, b = state[f"{head}.weight"], state[f"{head}.bias"]
        anchors = w.shape[0] // 2
        w3 = torch.empty((anchors * 3,) + tuple(w.shape[1:]), dtype=w.dtype)
        b3 = torch.empty(anchors * 3, dtype=b.dtype)
        for a in range(anchors):
            background, face = 2 * a, 2 * a + 1
            offsets = EVEN_ANCHOR_OFFSETS if a % 2 == 0 else ODD_ANCHOR_OFFSETS
            w3[3 * a] = w[background]
            b3[3 * a] = b[background]
            for c, offset in enumerate(offsets, start=1):
                w3[3 * a + c] = w[face]
                b3[3 * a + c] = b[face] + offset
        out[f"{head}.weight"], out[f"{head}.bias"] = w3, b3
    torch.save(out, dest)
    return dest
