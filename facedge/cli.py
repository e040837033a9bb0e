"""The `facedge` command: parses arguments and hands each verb to its module.

Each verb module defines `configure_parser(parser)` and `run(args) -> int`; it is
imported only when its verb is used, so `facedge detect` on a Pi never imports
torch.
"""

import argparse
import importlib
import sys

VERBS = {
    "detect": ("facedge.runtime.detect_cli", "detect faces in images"),
    "convert": ("facedge.convert.cli", "convert PyTorch weights to an ncnn model directory"),
    "quantize": ("facedge.calibration.cli", "int8 post-training quantization of an fp32 ncnn model directory"),
    "eval": ("facedge.bench.wider.cli", "WIDER FACE Easy/Medium/Hard AP of a model or of predictions"),
    "bench": ("facedge.bench.cli", "per-thread latency against the alternatives"),
    "camera": ("facedge.runtime.camera.cli", "live detection from a camera or video"),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="facedge", description="Face detection for the Raspberry Pi and other ARM boards.")
    from facedge import __version__

    parser.add_argument("--version", action="version", version=f"facedge {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if not e.name or not e.name.startswith("facedge"):
                raise
            p.set_defaults(_missing=f"'facedge {verb}' is not available in this build")
            continue
        module.configure_parser(p)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    if getattr(args, "_missing", None):
        print(f"facedge: error: {args._missing}", file=sys.stderr)
        return 2
    module = importlib.import_module(args._module)
    from facedge.base.errors import FacedgeError

    try:
        return int(module.run(args) or 0)
    except FacedgeError as e:
        print(f"facedge {args.verb}: error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        if "C++ core is not built" not in str(e):
            raise
        print(f"facedge {args.verb}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"facedge {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
