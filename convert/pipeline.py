"""`convert()`: a PyTorch checkpoint -> an ncnn model directory, with a parity report.

Every stage writes into a temporary folder beside the destination, which is renamed
into place only when all of them succeeded: a failed conversion leaves nothing behind.

OUT/
  fp32/ (or fp16/)  model.param, model.bin, facedge.json  - the model directory
  model.onnx        the simplified ONNX graph pnnx converted
  report.json, report.md
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from facedge.convert import checkpoint, families, ncnn_export, onnx_export, report, verify
from facedge.base.errors import FacedgeError
from facedge.base.model_dir import (BIN_FILE, INFO_FILE, PARAM_FILE, PRECISIONS, ModelInfo, check_class_names,
                                     default_class_names, write_model_info)
from facedge.base.paths import models_dir
from facedge.base.sample_photos import sample_photos

ONNX_FILE = "model.onnx"


@dataclass
class Result:
    out_dir: Path     # the convert output folder
    model_dir: Path   # its model directory (OUT/fp32 or OUT/fp16)
    report: dict



class _Steps:
    """Times each step and says on stderr what is happening (FACEDGE_PROGRESS=0 silences it)."""

    def __init__(self, total):
        self.total, self.n, self.timings = total, 0, {}
        self.quiet = os.environ.get("FACEDGE_PROGRESS", "1") == "0"

    def run(self, name, fn, *args, **kwargs):
        self.n += 1
        if not self.quiet:
            print(f"[{self.n}/{self.total}] {name} ...", file=sys.stderr, flush=True)
        start = time.monotonic()
        value = fn(*args, **kwargs)
        self.timings[name] = time.monotonic() - start
        return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_name(ckpt: Path, family, size) -> str:
    name = ckpt.stem
    if tuple(size) != family.default_size_for(ckpt.stem):
        name += f"-{size[0]}x{size[1]}"
    return name


def _is_convert_output(path: Path) -> bool:
    return (path / report.REPORT_JSON).is_file() or any((path / p / INFO_FILE).is_file() for p in PRECISIONS)


def _check_destination(out: Path):
    if out.exists() and not out.is_dir():
        raise FacedgeError(f"{out}: exists and is a file; the output must be a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_convert_output(out):
        raise FacedgeError(f"{out}: exists and is not a facedge convert output; choose another -o folder")


def _replace(tmp: Path, out: Path):
    """Put tmp where out is; an older conversion there is removed only after the swap."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
        os.replace(out, old / out.name)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _images(images_dir):
    """(images, description) for the parity check: --images, else the photos shipped
    with facedge (real faces, public domain)."""
    paths = verify.image_paths(images_dir)
    if paths is None:
        paths = sample_photos()
        return verify.read_images(paths), "facedge's sample photos"
    return verify.read_images(paths), str(paths[0].parent)


def _class_names(names, num_classes, checkpoint_name):
    """The face classes' names: as given (checked against the checkpoint), or the defaults."""
    if names is None:
        return default_class_names(num_classes)
    names = check_class_names(list(names), f"--class-names {','.join(map(str, names))}")
    if len(names) != num_classes - 1:
        raise FacedgeError(f"--class-names {','.join(names)}: {len(names)} name{'s' if len(names) != 1 else ''} for "
                           f"{checkpoint_name}, whose score head has {num_classes - 1} face class"
                           f"{'es' if num_classes != 2 else ''} (after the background)")
    return names


def convert(weights=None, *, arch=None, input_size=None, out_dir=None, name=None, fp16=False, images=None,
            class_names=None) -> Result:
    from facedge import __version__

    started = time.monotonic()
    steps = _Steps(total=5)
    if weights is None:
        from facedge.convert.weights import default_checkpoint

        ckpt = default_checkpoint()
    else:
        ckpt = Path(weights)
    state = steps.run("load checkpoint", checkpoint.load_state_dict, ckpt)
    family = families.get(arch) if arch else families.detect(state, ckpt)
    net, num_classes = families.fit(family, state, ckpt)
    class_names = _class_names(class_names, num_classes, ckpt.name)
    size = tuple(input_size) if input_size else family.default_size_for(ckpt.stem)
    family.check_input_size(*size)
    name = name or _default_name(ckpt, family, size)
    # absolute: pnnx runs in a scratch folder, where a relative -o path would point elsewhere
    out = Path(out_dir).absolute() if out_dir else models_dir() / name
    _check_destination(out)
    test_images, images_source = _images(images)
    precision = "fp16" if fp16 else "fp32"
    sha256 = checkpoint.sha256_of(ckpt)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
    try:
        rep = _stages(steps, tmp, family, net, num_classes, size, precision, test_images)
        model_dir = tmp / precision
        graph = rep.pop("graph")
        write_model_info(model_dir, ModelInfo(
            family=family.name, input_size=size, input=graph.input,
            outputs=dict(zip(family.outputs, graph.outputs)), pixel=family.pixel,
            mean=list(family.mean), norm=list(family.norm), precision=precision, class_names=class_names,
            source={"checkpoint": ckpt.name, "checkpoint_sha256": sha256, "facedge": __version__,
                    "arch": family.name, "num_classes": num_classes},
        ))
        files = {rel: (tmp / rel).stat().st_size
                 for rel in (ONNX_FILE, f"{precision}/{PARAM_FILE}", f"{precision}/{BIN_FILE}")}
        timings = dict(steps.timings, total=time.monotonic() - started)
        full = report.build(
            name=name, family=family, input_size=size, precision=precision,
            checkpoint={"name": ckpt.name, "sha256": sha256, "bytes": ckpt.stat().st_size,
                        "num_classes": num_classes},
            images={"count": len(test_images), "source": images_source},
            diffs=rep["diffs"], faces=rep["faces"],
            tolerance=verify.FP32_TOLERANCE if precision == "fp32" else None,
            files=files, timings=timings, outputs=dict(zip(family.outputs, graph.outputs)), version=__version__,
            class_names=class_names,
        )
        _check_faces(full)
        report.write(tmp, full)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Result(out_dir=out, model_dir=out / precision, report=full)


def _stages(steps, tmp, family, net, num_classes, size, precision, test_images):
    import copy

    import onnxruntime
    import torch

    from facedge.convert.families.export_wrapper import ExportWrapper

    work = tmp / ".work"
    work.mkdir()
    wrapper = ExportWrapper(net, family, num_classes).eval()
    raw_onnx = work / "raw.onnx"
    net_size = family.network_size(*size)  # what the graph sees: the input size after any padding
    steps.run("export ONNX", onnx_export.export, onnx_export.fold_batchnorm(wrapper), net_size, raw_onnx, family.outputs)
    steps.run("simplify ONNX", onnx_export.simplify, raw_onnx, tmp / ONNX_FILE, net_size)
    model_dir = tmp / precision
    model_dir.mkdir()
    graph = steps.run("pnnx to ncnn", ncnn_export.convert, tmp / ONNX_FILE, model_dir, work / "pnnx", net_size,
                      precision == "fp16", len(family.outputs))

    exact = copy.deepcopy(wrapper).double()

    def reference_fn(x):
        with torch.no_grad():
            return [t.numpy() for t in exact(torch.from_numpy(x).double())]

    def torch_fn(x):
        with torch.no_grad():
            return [t.numpy() for t in wrapper(torch.from_numpy(x))]

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings about the CPU vendor on every run
    # ORT's worker threads spin between runs and starve torch's on a small machine
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(tmp / ONNX_FILE), options, providers=["CPUExecutionProvider"])

    def onnx_fn(x):
        return session.run(None, {onnx_export.INPUT_NAME: x})

    ncnn_fn = verify.NcnnRunner(model_dir / PARAM_FILE, model_dir / BIN_FILE, graph.input, graph.outputs)
    # One thread for every engine: torch's OpenMP pool, waiting beside ncnn's and
    # onnxruntime's, ran several times slower than a single thread on two cores.
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        diffs, faces = steps.run("verify torch / onnxruntime / ncnn", verify.compare_stages, family, reference_fn,
                                 {"torch": torch_fn, "onnxruntime": onnx_fn, "ncnn": ncnn_fn}, test_images, size)
    finally:
        torch.set_num_threads(torch_threads)
    shutil.rmtree(work)
    return {"graph": graph, "diffs": diffs, "faces": faces}


def _check_faces(rep):
    """A converted model that finds other faces than the PyTorch network is broken, at any
    precision: refuse to install it."""
    f = rep["faces"]
    if f["matched_fraction"] < verify.MIN_MATCHED:
        raise FacedgeError(
            f"conversion check failed: of {f['reference']} faces PyTorch finds on the test images, the ncnn model "
            f"finds only {f['matched']} ({100 * f['matched_fraction']:.1f} %, need {100 * verify.MIN_MATCHED:.0f} %)")
