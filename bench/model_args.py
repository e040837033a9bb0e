"""The model arguments the speed scripts share (`overhead`, `preprocess_threads`): a
model directory or cached name, or a bare ncnn .param/.bin pair of a family."""

from __future__ import annotations

from facedge.base.model_dir import DEFAULT_MODEL


def add_model_arguments(p):
    p.add_argument("--model", help=f"model directory or cached name (default: {DEFAULT_MODEL})")
    p.add_argument("--param", help="a bare ncnn .param instead of a model directory (with --bin and --family)")
    p.add_argument("--bin", help="the .bin of --param")
    p.add_argument("--family", default="ultraface-rfb", help="the family of --param / --bin (default: ultraface-rfb)")


def open_detector(p, args, **options):
    """(the Detector the arguments name, made with `options`; its name for reports)."""
    import facedge

    if args.param or args.bin:
        if not (args.param and args.bin):
            p.error("give --param and --bin together")
        return facedge.Detector.from_ncnn(args.param, args.bin, family=args.family, **options), str(args.param)
    model = args.model or DEFAULT_MODEL
    return facedge.Detector(model, **options), str(model)
