"""Score a trained generator against real data with torch-fidelity (FID, KID, IS, precision/recall).

    python evaluate.py runs/dcgan_mnist --metrics fid,kid --num-samples 10000
    python evaluate.py runs/dcgan_mnist/best data.split=test eval.num_real=5000
    python evaluate.py runs/quickstart/export eval.inception_weights=/models/weights-inception-2015-12-05-6726825d.pth
    python evaluate.py user/my-gan data.root=my_images --out my-gan-eval.json   # a Hub repo id
    python evaluate.py runs/digits --metrics fid,class_accuracy eval.per_class=true eval.classifier_path=digits.pt eval.trust_torchscript=true

A class-conditional export (model.num_classes > 0 in its JSON) is sampled with labels uniform over
its classes; eval.per_class=true adds the FID of each class against the real images of that class
(fid_class<k>) and their mean (intra_fid); class_accuracy needs eval.classifier_path.

A TorchScript file (eval.feature_extractor=torchscript, a TorchScript eval.classifier_path) runs code
when loaded: it is refused in one line unless this command line says eval.trust_torchscript=true
(the value stored in the run is ignored, like its eval.cache_dir).

The real data and evaluation settings default to the run's own config (stored in the export);
``data.*`` and ``eval.*`` overrides change them. The real-statistics cache is the one place not
taken from the run: ``--cache-dir`` or ``eval.cache_dir`` on this command line, else
``$XDG_CACHE_HOME/gan-toolkit/fidelity_cache`` (a downloaded run could ship a crafted cache).
Prints one table and writes a JSON file with the values and the protocol (image counts, real
split, resolution, extractor and its weights).

Inception weights (FID, KID, IS, PR) are torch-fidelity's file in the torch hub cache; when it is
missing it is downloaded there if the machine is online (eval.download_weights=auto, the default;
HF_HUB_OFFLINE=1 counts as offline), else one error line names the file, the folder and the URL
before any work. eval.download_weights=true always tries, false never downloads; the value stored
in the run is ignored (like its eval.cache_dir): only this command line sets it.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gan.cli import REPO_ID_HELP, exit_process, run_cli

if TYPE_CHECKING:
    from gan.generation.config import GANConfig

OVERRIDABLE = ("data.", "eval.")
# eval.* keys of the stored config that evaluate.py ignores: a downloaded run must not pick where its
# cache is read from, fetch weights, or opt in to running TorchScript code.
MACHINE_KEYS = ("cache_dir", "download_weights", "trust_torchscript")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="export, best/, hub or checkpoint-<step> folder, run directory, or " + REPO_ID_HELP)
    p.add_argument("--metrics", help="comma-separated: fid, kid, is, prc (default: eval.metrics of the run)")
    p.add_argument("--num-samples", type=int, help="generated images (default: eval.num_samples of the run)")
    p.add_argument("--out", help="result JSON (default: <export folder>/evaluation.json; for a Hub repo id, evaluation.json here)")
    p.add_argument("--cache-dir", help="real-statistics cache (default: eval.cache_dir given here, else ~/.cache/gan-toolkit/fidelity_cache)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("overrides", nargs="*", help="data.* / eval.* overrides, e.g. data.split=test eval.num_real=5000")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options may come before, between or after the source and the overrides."""
    return build_parser().parse_intermixed_args(argv)


def check_out_path(path: Path) -> None:
    """Refuse an unwritable result path before the (long) evaluation, not after it."""
    from gan.errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"--out '{path}' is a directory; expected the path of the JSON file to write")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"--out '{path}': '{parent}' is a file, not a folder")


def eval_config(meta: dict, args: argparse.Namespace) -> "GANConfig":
    """The run's stored config with the command line's data/eval overrides and flags applied."""
    from gan.config import from_dict, parse_override
    from gan.errors import ConfigError
    from gan.generation.config import GANConfig

    values = dict(meta.get("config", {}))
    # Settings of this machine, not of the run: only this command line picks where to read cached stats
    # and whether to download weights (a run trained elsewhere, or before "auto", may say false).
    values["eval"] = {k: v for k, v in values.get("eval", {}).items() if k not in MACHINE_KEYS}
    for text in args.overrides:
        key, value = parse_override(text)
        if not key.startswith(OVERRIDABLE):
            raise ConfigError(f"override '{key}': evaluate.py only takes data.* and eval.* keys")
        values[key] = value
    if args.metrics:
        values["eval.metrics"] = args.metrics
    if args.num_samples is not None:
        values["eval.num_samples"] = args.num_samples
    cfg = from_dict(GANConfig, values)
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def job() -> int:
        import torch

        from gan.formats.resolve import resolve_source
        from gan.evaluation import Evaluator, format_table, user_cache_dir, write_result
        from gan.generation.sampling import find_export, load_generator
        from gan.formats import EVALUATION_JSON

        source = resolve_source(args.source)  # a local path wins; else a Hub repo id, through the Hub cache
        folder = find_export(source)
        # the result goes beside the export, but never into the Hub cache: there, into the current folder
        default_out = folder / EVALUATION_JSON if Path(args.source).exists() else Path(EVALUATION_JSON)
        out_path = Path(args.out) if args.out else default_out
        check_out_path(out_path)
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, meta = load_generator(folder, device)
        cfg = eval_config(meta, args)
        cache = args.cache_dir or cfg.eval.cache_dir or user_cache_dir()
        evaluator = Evaluator(cfg.eval, cfg.data, cache, device)
        classes = int(meta["model"].get("num_classes") or 0)
        result = evaluator.evaluate_generator(model, meta["model"]["nz"], source=str(folder), num_classes=classes)
        out = write_result(out_path, result, step=meta.get("step"))
        print(format_table(result.values))
        print(protocol_line(result.protocol))
        print(f"wrote {out}")
        return 0

    return run_cli(job)


def protocol_line(p: dict) -> str:
    """One line saying what was compared with what, by which extractor."""
    fe = p.get("feature_extractor")
    real = p.get("real")
    against = f" vs {real['num_images']} real ({real['dataset']} {real['split']})" if real else ""
    cached = " [real stats from cache]" if p.get("real_cache", {}).get("hit") else ""
    by = f", {fe['name']} (weights sha256 {fe['weights_sha256'][:12]})" if fe else ""
    line = f"protocol: {p['generated']['num_images']} generated{against} at {p['resolution']}px{by}{cached}"
    if "class_accuracy" in p:
        line += f"; class_accuracy by {p['class_accuracy']['classifier']}"
    if isinstance(p.get("per_class"), dict):
        line += f"; per-class FID over {p['per_class']['num_classes']} classes"
    return line


if __name__ == "__main__":
    exit_process(main())
