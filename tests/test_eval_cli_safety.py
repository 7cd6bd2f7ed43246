"""evaluate.py on an untrusted run: the real-statistics cache is never unpickled nor located by the run; argument handling."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from gan.config import load_config, to_dict
from gan.formats import save_safetensors_atomic, write_json_atomic
from gan.generation.config import GANConfig
from gan.generation.task import generator_kwargs
from gan.models import Generator

REPO = Path(__file__).resolve().parents[1]
N = 8
TINY = ["data.name=shapes", "data.resolution=16", f"data.shapes_size={N}", "model.nz=8", "model.ngf=8", "model.ndf=8", "log.tracker=none"]


class Exploit:
    """Unpickling this creates ``marker``: a stand-in for arbitrary code in a crafted cache file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """evaluate.py's main, 75 px Inception (speed, see test_eval.py), the user cache under tmp_path."""
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.syspath_prepend(str(REPO))
    import evaluate

    return evaluate


def downloaded_run(tmp_path: Path) -> Path:
    """``dl/runs/x`` with an export whose stored config names its own cache folder ``run_cache``."""
    run = tmp_path / "dl" / "runs" / "x"
    cfg = load_config(GANConfig, None, TINY + [f"out_dir={run}", f"eval.cache_dir={tmp_path / 'run_cache'}"])
    torch.manual_seed(0)
    (run / "export").mkdir(parents=True)
    save_safetensors_atomic(Generator(**generator_kwargs(cfg)).state_dict(), run / "export" / "generator.safetensors")
    write_json_atomic(run / "export" / "generator.json", {"model": generator_kwargs(cfg), "step": 0, "config": to_dict(cfg)})
    return run


def candidate_cache_dirs(tmp_path: Path) -> list[Path]:
    """Every place a cache for the downloaded run could be: the user's, next to the runs, the run's own."""
    return [tmp_path / "xdg" / "gan-toolkit" / "fidelity_cache", tmp_path / "dl" / "runs" / ".fidelity_cache", tmp_path / "run_cache"]


def test_a_crafted_pickle_in_the_real_stats_cache_is_refused_not_unpickled(weights, tmp_path, cli, capsys):
    run = downloaded_run(tmp_path)
    argv = [str(run), f"eval.inception_weights={weights}", f"eval.num_real={N}", "--num-samples", str(N), "--device", "cpu"]
    assert cli.main(argv) == 0
    name = json.loads((run / "export" / "evaluation.json").read_text())["protocol"]["real_cache"]["name"]
    written = [p for d in candidate_cache_dirs(tmp_path) if d.is_dir() for p in d.iterdir() if p.suffix != ".json"]
    assert written
    marker = tmp_path / "pwned"
    for path in written:  # the repro: replace every cache file with a pickle that runs code when loaded
        torch.save(Exploit(marker), path)
    for folder in candidate_cache_dirs(tmp_path):  # and plant torch-fidelity's own cache names too
        folder.mkdir(parents=True, exist_ok=True)
        for suffix in ("stat-fid-2048", "features-2048"):
            torch.save(Exploit(marker), folder / f"{name}-inception-v3-compat-{suffix}.pt")
    capsys.readouterr()

    assert cli.main(argv) == 2
    assert not marker.exists()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]  # not the progress bars
    fid_file = candidate_cache_dirs(tmp_path)[0] / f"{name}-fid-2048.safetensors"
    assert len(lines) == 1 and lines[0].startswith("error: real-statistics cache: ") and f"'{fid_file}'" in lines[0], lines


def test_evaluate_ignores_the_runs_own_cache_dir(weights, tmp_path, cli):
    run = downloaded_run(tmp_path)
    base = [str(run), f"eval.inception_weights={weights}", f"eval.num_real={N}", "--num-samples", str(N), "--device", "cpu"]
    assert cli.main(base + ["--out", str(tmp_path / "default.json")]) == 0
    protocol = json.loads((tmp_path / "default.json").read_text())["protocol"]
    user_cache, next_to_runs, runs_own = candidate_cache_dirs(tmp_path)
    assert protocol["real_cache"]["dir"] == str(user_cache) and not protocol["real_cache"]["hit"]
    assert not runs_own.exists() and not next_to_runs.exists()
    assert protocol["generated"]["num_images"] == N and protocol["real"]["num_images"] == N
    # eval.cache_dir given on this command line is honoured (and options may sit between the overrides)
    mine = tmp_path / "mine"
    mixed = [str(run), "--num-samples", str(N), f"eval.cache_dir={mine}", "--device", "cpu", f"eval.inception_weights={weights}",
             "--out", str(tmp_path / "mine.json"), f"eval.num_real={N}"]
    assert cli.main(mixed) == 0
    assert json.loads((tmp_path / "mine.json").read_text())["protocol"]["real_cache"]["dir"] == str(mine)
    assert any(p.suffix == ".safetensors" for p in mine.iterdir())


def test_out_directory_is_refused_before_evaluating(weights, tmp_path, cli, capsys, monkeypatch):
    from gan.evaluation import Evaluator

    run = downloaded_run(tmp_path)
    calls = []
    monkeypatch.setattr(Evaluator, "evaluate_generator", lambda *a, **k: calls.append(1))
    assert cli.main([str(run), "--out", str(tmp_path), f"eval.inception_weights={weights}", "--device", "cpu"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: --out '{tmp_path}' is a directory; expected the path of the JSON file to write"]
    assert calls == []  # refused before any image was generated


def test_options_may_sit_between_the_run_and_the_overrides(cli):
    before = cli.parse_args(["runs/x", "eval.num_real=16", "--num-samples", "16", "data.split=test"])
    between = cli.parse_args(["runs/x", "--num-samples", "16", "eval.num_real=16", "data.split=test"])
    assert vars(before) == vars(between)
    assert between.source == "runs/x" and between.num_samples == 16 and between.overrides == ["eval.num_real=16", "data.split=test"]
