"""Export a trained generator (EMA weights) or segmentation model for use without the training code.

    python export.py runs/quickstart --format onnx --out exported/          # exported/generator.onnx
    python export.py runs/quickstart --format torchscript --out exported/   # exported/generator.torchscript.pt
    python export.py runs/seg_shapes --format onnx --size 64x96 --out exported/
    python export.py runs/quickstart --format safetensors --out exported/   # generator.safetensors + .json
    python export.py runs/quickstart --format hub --out my-gan/ [--license apache-2.0] [--push user/my-gan]
    python export.py user/my-gan --format onnx --out exported/              # from a Hub repo id
    python export.py runs/quickstart --format space --out my-space/       # app.py, requirements.txt, model/, gan/

The source is a run, export/, best/, checkpoint-<step> or hub folder, or a Hub repo id
(user/name[@revision], through the Hub cache) (its generator, else its segmenter; --kind chooses). ONNX and TorchScript graphs have spectral norm and BatchNorm folded and
a dynamic batch axis; each export is run on fixed inputs and compared with PyTorch on the spot (the
max abs difference is printed; above --atol is an error and the file is removed). ONNX needs the
optional extra: pip install -e ".[export]".

Every export is written and verified in a temporary folder beside --out, then swapped in by rename: a
failed export leaves --out as it was (other files in it are kept). The hub folder is the models'
save_pretrained format (Generator/SegmentationModel.from_pretrained read it); its model card carries
Hub metadata: license (--license), pipeline_tag by kind (none for a class-conditional generator: no
Hub pipeline takes a label; it is tagged class-conditional-image-generation), the dataset for mnist,
fashion_mnist and cifar10, and the run's evaluation results with their protocol (model-index).

A space folder is a Hugging Face Space of the demo (sdk gradio) that runs with ``python app.py``: the
hub folder in ``model/``, the toolkit's ``.py`` files in ``gan/``, ``requirements.txt`` and, for a
segmenter, example images. It is checked by running its ``app.py --check`` in a fresh process.
Needs the optional extra: pip install -e ".[demo]".
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

# Only torch-free modules before the arguments are parsed: --help and argument errors answer at once.
from gan.cli import REPO_ID_HELP, exit_process, fail, run_cli
from gan.names import EXPORT_ATOL, EXPORT_FORMATS, EXPORT_LICENSE

LICENSE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]*")  # the Hub's license identifiers: mit, apache-2.0, cc-by-nc-4.0, other

def parse_size(text: str) -> tuple[int, int]:
    """``"64x96"`` (height x width) -> ``(64, 96)``."""
    h, sep, w = text.lower().partition("x")
    if not (sep and h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0):
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected HEIGHTxWIDTH such as 64x96")
    return int(h), int(w)


def parse_license(text: str) -> str:
    """A Hub license identifier (lower case, such as ``mit``, ``apache-2.0`` or ``other``)."""
    if not LICENSE_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"--license {text!r}: expected a Hugging Face Hub license identifier such as mit, apache-2.0, cc-by-4.0 or other")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="run, export/, best/, checkpoint-<step> or hub folder, or " + REPO_ID_HELP)
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--out", required=True, help="output folder (the file names follow the model kind)")
    p.add_argument("--kind", choices=("generator", "segmenter"), help="which model of the source (default: the one it holds)")
    p.add_argument("--size", type=parse_size, help="segmenter: input HEIGHTxWIDTH of the graph (default: the training resolution)")
    p.add_argument("--atol", type=float, default=EXPORT_ATOL, help="largest allowed max abs difference from PyTorch (default %(default)g)")
    p.add_argument("--dynamo", action="store_true", help="ONNX: use the torch.export-based exporter (slower; needs onnxscript)")
    p.add_argument("--license", type=parse_license, default=EXPORT_LICENSE,
                   help="with --format hub or space: the model card's license (default %(default)s; e.g. other for weights trained on data under other terms)")
    p.add_argument("--push", metavar="REPO_ID", help="with --format hub: upload the folder to this Hub model repo")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.push and args.format != "hub":
        return fail("--push uploads a hub folder: use it with --format hub")
    if not args.atol > 0:
        return fail(f"--atol {args.atol}: expected a positive tolerance")

    def job() -> int:
        from gan.formats.resolve import resolve_source
        from gan.deploy.source import load_source
        from gan.outputs import check_output_folder, check_replaced_folder

        out = Path(args.out)
        source = resolve_source(args.source)  # a local path wins; else a Hub repo id, through the Hub cache
        check_output_folder(out, protect=[source], what="--out")  # before loading: nothing written into the source
        loaded = load_source(source, args.kind)
        check_output_folder(out, protect=[source, loaded.folder], what="--out")
        check_replaced_folder(out, [source, loaded.folder], what="--out")
        print(f"{loaded.kind} from {loaded.folder} (step {loaded.meta.get('step')})")
        if args.format == "hub":
            from gan.deploy.hub import push_folder, write_hub_folder

            print(f"wrote {write_hub_folder(loaded, out, args.license)} (config.json, model.safetensors, README.md); reloaded and verified")
            if args.push:
                print(f"pushed to {push_folder(out, args.push)}")
            return 0
        if args.format == "space":
            from gan.deploy.space import write_space

            print(f"wrote {write_space(loaded, out, args.license)} (app.py, requirements.txt, README.md, model/, gan/); "
                  f"its app.py was run and checked; serve it with: python {out / 'app.py'}")
            return 0
        from gan.deploy.runtime import export_runtime, export_safetensors

        if args.format == "safetensors":
            path, diff = export_safetensors(loaded, out)
        else:
            path, diff = export_runtime(loaded, args.format, out, args.size, args.atol, args.dynamo)
        print(f"wrote {path}; verified against PyTorch: max abs difference {diff:.3g} (tolerance {args.atol:g})")
        return 0

    return run_cli(job)


if __name__ == "__main__":
    exit_process(main())
