"""Fuzz worker: loads mutated copies of an ncnn model with facedge and runs one
detection on each. Run as a subprocess by test_runtime_fuzz.py so that a crash
(a signal) is caught and reported with the mutation that caused it.

usage: python fuzz_model_load.py PARAM BIN SEED COUNT WORKDIR
Prints 'case N: <mutation>' before each attempt and 'done ok=A rejected=R' at the end.
"""

import random
import sys
from pathlib import Path

import numpy as np

import facedge
from facedge import FacedgeError


def mutate_param(text: str, rng: random.Random):
    lines = text.splitlines()
    kind = rng.choice(["number", "number", "number", "token", "line", "truncate", "swap"])
    if kind == "truncate":
        cut = rng.randrange(len(text))
        return text[:cut], f"truncate param at {cut}"
    i = rng.randrange(len(lines))
    tokens = lines[i].split()
    if kind == "line":
        del lines[i]
        return "\n".join(lines) + "\n", f"delete line {i + 1}"
    if kind == "swap" and len(lines) > 3:
        j = rng.randrange(2, len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines) + "\n", f"swap lines {i + 1},{j + 1}"
    if not tokens:
        return text, "noop"
    k = rng.randrange(len(tokens))
    if kind == "token":
        del tokens[k]
        what = f"delete token {k} of line {i + 1}"
    else:
        value = rng.choice([0, -1, 1, 2, 3, 7, 64, 255, 1000, 65535, 1 << 20, -233, rng.randrange(-10, 5000)])
        t = tokens[k]
        tokens[k] = (t.split("=")[0] + "=" + str(value)) if "=" in t else str(value)
        what = f"line {i + 1} token {k}: {t!r} -> {tokens[k]!r}"
    lines[i] = " ".join(tokens)
    return "\n".join(lines) + "\n", what


def mutate_bin(data: bytes, rng: random.Random):
    kind = rng.choice(["truncate", "flip", "append", "tag"])
    b = bytearray(data)
    if kind == "truncate":
        cut = rng.randrange(len(b))
        return bytes(b[:cut]), f"truncate bin at {cut}"
    if kind == "append":
        n = rng.choice([1, 3, 4, 100])
        return bytes(b) + bytes(n), f"append {n} bytes"
    if kind == "tag":  # turn the first weight tag into an fp16/int8 tag
        tag = rng.choice([b"\x47\x6b\x30\x01", b"\x38\x4b\x0d\x00", b"\x01\x02\x03\x04"])
        b[0:4] = tag
        return bytes(b), f"tag {tag.hex()}"
    for _ in range(rng.choice([1, 10, 100])):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b), "flip bytes"


def main():
    param, bin_, seed, count, workdir = sys.argv[1:6]
    param_text = Path(param).read_text()
    bin_data = Path(bin_).read_bytes()
    work = Path(workdir)
    rng = random.Random(int(seed))
    image = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
    ok = rejected = 0
    for n in range(int(count)):
        p_text, b_data, what = param_text, bin_data, []
        if rng.random() < 0.7:
            p_text, w = mutate_param(p_text, rng)
            what.append(w)
        if rng.random() < 0.5 or not what:
            b_data, w = mutate_bin(b_data, rng)
            what.append(w)
        print(f"case {n}: {'; '.join(what)}", flush=True)
        (work / "m.param").write_text(p_text)
        (work / "m.bin").write_bytes(b_data)
        try:
            det = facedge.Detector.from_ncnn(work / "m.param", work / "m.bin", family="ultraface-rfb", score_threshold=0.5)
            det.detect(image)
            ok += 1
        except FacedgeError as e:
            assert "\n" not in str(e)
            rejected += 1
    print(f"done ok={ok} rejected={rejected}", flush=True)


if __name__ == "__main__":
    main()
