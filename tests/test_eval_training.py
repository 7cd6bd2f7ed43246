"""Periodic evaluation in training, the `best` export, evaluate.py and the offline missing-weights path."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from gan.config import load_config, to_dict
from gan.engine.best import BestKeeper, read_best
from gan.evaluation import EvalResult, MissingWeightsError, bundled
from gan.evaluation.hook import PeriodicEvaluation
from gan.evaluation.weights import INCEPTION_FILE
from gan.formats import save_safetensors_atomic, write_json_atomic
from gan.generation.config import GANConfig
from gan.generation.task import generator_kwargs
from gan.models import Generator

REPO = Path(__file__).resolve().parents[1]
N = 8
TINY = [
    "data.name=shapes", "data.resolution=16", f"data.shapes_size={N}", "model.nz=8", "model.ngf=8", "model.ndf=8",
    "train.batch_size=4", "log.tracker=none", "log.every=1", "log.num_samples=4", f"eval.num_samples={N}", f"eval.batch_size={N}",
]


def tiny_config(out_dir: Path, *extra: str) -> GANConfig:
    return load_config(GANConfig, None, TINY + [f"out_dir={out_dir}", *extra])


def test_periodic_eval_log_plot_and_best_export_match_evaluate_cli(weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)  # speed: see test_eval.py
    from gan.generation.train import run_training

    run = tmp_path / "runs" / "tiny"
    cfg = tiny_config(run, "train.steps=4", "eval.every=2", "checkpoint.every=4", f"eval.inception_weights={weights}")
    assert run_training(cfg) == 0
    records = [json.loads(line) for line in (run / "eval" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert (run / "eval" / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    step_json = json.loads((run / "eval" / "step-0000004.json").read_text())
    assert step_json["step"] == 4 and step_json["protocol"]["generated"]["num_images"] == N
    best = read_best(run)
    lowest = min(records, key=lambda r: r["fid"])
    assert best["metric"] == "fid" and best["value"] == lowest["fid"] and best["step"] == lowest["step"]
    assert json.loads((run / "best" / "generator.json").read_text())["step"] == best["step"]

    # The best export, scored again by evaluate.py with the run's settings, gives the logged value.
    monkeypatch.syspath_prepend(str(REPO))
    import evaluate

    out = tmp_path / "best_eval.json"
    # the training run's cache is used only when named on the command line (evaluate.py never takes it from the run)
    assert evaluate.main([str(run / "best"), "--out", str(out), "--device", "cpu", "--cache-dir", str(run.parent / ".fidelity_cache")]) == 0
    result = json.loads(out.read_text())
    assert result["metrics"]["fid"] == pytest.approx(best["value"], rel=1e-6)
    assert result["protocol"]["real_cache"]["hit"]  # same key as in training: nothing recomputed
    printed = capsys.readouterr().out
    assert "fid" in printed and f"{N} generated vs {N} real (shapes procedural) at 16px" in printed


class ScriptedEvaluator:
    """Returns a scripted FID per call, like a run that peaks and then collapses."""

    def __init__(self, fids: list[float]) -> None:
        self.fids = list(fids)

    def evaluate_generator(self, model, nz, source="", num_classes=0):
        return EvalResult({"fid": self.fids.pop(0)}, {"source": source})


def record_step(folder: Path, step: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.txt").write_text(str(step))


def test_best_export_survives_collapse_and_resume(tmp_path):
    model = torch.nn.Linear(2, 2)
    keeper = BestKeeper(tmp_path, higher_is_better=False)
    hook = PeriodicEvaluation(ScriptedEvaluator([5.0, 3.0, 4.0]), tmp_path, lambda: model, 2, record_step, keeper)
    logged = [hook(step) for step in (10, 20, 30)]
    assert logged == [{"eval/fid": 5.0}, {"eval/fid": 3.0}, {"eval/fid": 4.0}]
    assert (tmp_path / "best" / "step.txt").read_text() == "20"
    assert read_best(tmp_path) == {"metric": "fid", "value": 3.0, "step": 20, "eval_json": "eval/step-0000020.json"}
    assert not list(tmp_path.glob(".tmp-best")) and not list(tmp_path.glob(".old-best"))
    resumed_keeper = BestKeeper(tmp_path, higher_is_better=False)
    resumed_keeper.load_state_tensors(keeper.state_tensors())  # what the run's checkpoint holds
    resumed = PeriodicEvaluation(ScriptedEvaluator([3.5]), tmp_path, lambda: model, 2, record_step, resumed_keeper)
    resumed(40)
    assert read_best(tmp_path)["step"] == 20  # a resumed run keeps the earlier, better weights
    fresh = PeriodicEvaluation(ScriptedEvaluator([9.0]), tmp_path, lambda: model, 2, record_step, BestKeeper(tmp_path, False))
    fresh(5)
    assert (tmp_path / "best" / "step.txt").read_text() == "5"  # a new run does not compare with an old one


def test_missing_weights_stop_training_before_the_first_step(tmp_path):
    from gan.generation.train import run_training

    cfg = tiny_config(tmp_path / "run", "train.steps=2", "eval.every=1", f"eval.inception_weights={tmp_path / 'absent.pth'}")
    with pytest.raises(MissingWeightsError, match="absent.pth"):
        run_training(cfg)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def write_export(folder: Path) -> None:
    cfg = tiny_config(folder.parent)
    model = Generator(**generator_kwargs(cfg))
    save_safetensors_atomic(model.state_dict(), folder / "generator.safetensors")
    write_json_atomic(folder / "generator.json", {"model": generator_kwargs(cfg), "step": 0, "config": to_dict(cfg)})


def test_evaluate_cli_without_weights_prints_one_line(tmp_path, monkeypatch, capsys):
    export = tmp_path / "export"
    export.mkdir()
    write_export(export)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(bundled, "find_bundled", lambda: None)  # without the fid extra (with it, FID needs no file: tests/test_fid_bundled.py)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # eval.download_weights=auto would fetch the file on an online machine
    monkeypatch.syspath_prepend(str(REPO))
    import evaluate

    assert evaluate.main([str(export), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Inception weights not found"), err
    assert INCEPTION_FILE in lines[0] and str(tmp_path / "empty_torch_home" / "hub" / "checkpoints") in lines[0]
