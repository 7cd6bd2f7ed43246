"""Tracker selection offline, and the loss-curve plot / JSONL log."""
from __future__ import annotations

import json
import sys

import pytest
from PIL import Image

from gan.engine.stats import StatsCollector, plot_curves, read_jsonl
from gan.engine.tracking import tracker_settings


def test_wandb_without_credentials_goes_offline_and_silent(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    log_with, kwargs = tracker_settings("wandb", "runs/x")
    # W&B's own banners are off; announce_offline_run prints the one line once the run exists
    assert log_with == "wandb" and kwargs == {"wandb": {"dir": "runs/x", "mode": "offline", "settings": {"silent": True}}}


def test_explicit_wandb_mode_and_other_trackers(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracker_settings("wandb", "d") == ("wandb", {"wandb": {"dir": "d", "mode": "disabled"}})
    assert tracker_settings("none", "d") == (None, {})
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    assert tracker_settings("tensorboard", "d") == ("tensorboard", {})


def test_collector_averages_and_resets():
    c = StatsCollector()
    c.add({"a": 1.0, "b": 2.0})
    c.add({"a": 3.0})
    assert c.means() == {"a": 2.0, "b": 2.0}
    assert c.means() == {}


def test_jsonl_keeps_the_newest_record_per_step_and_plot_is_written(tmp_path):
    log = tmp_path / "m.jsonl"
    lines = [{"step": 1, "g": 1.0}, {"step": 2, "g": 2.0}, {"step": 2, "g": 5.0}]
    log.write_text("\n".join(json.dumps(r) for r in lines) + "\n{\"step\": 3, \"g\"")  # last line cut by a crash
    records = read_jsonl(log)
    assert records == [{"step": 1, "g": 1.0}, {"step": 2, "g": 5.0}]
    png = tmp_path / "curves.png"
    assert plot_curves(records, ["g", "missing"], png, "t")
    assert Image.open(png).size[0] > 100
    assert not plot_curves(records, ["missing"], tmp_path / "none.png", "t")


def test_tensorboard_tracker_without_the_package_stops_before_training(monkeypatch, tmp_path, capsys):
    from conftest import REPO, TINY
    from train_gan import main

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` now raises ImportError
    out = tmp_path / "run"
    assert main(["--config", str(REPO / "tests/defaults.yaml"), *TINY, "log.tracker=tensorboard", f"out_dir={out}"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: log.tracker=tensorboard needs the 'tensorboard' package, which is not installed: pip install -e \".[tensorboard]\""]
    assert not list(out.rglob("*"))  # stopped before training: at most the empty folder claimed for the run


def tensorboard_images(folder):
    """{tag: [step, ...]} of the images in the TensorBoard event files under ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[int]] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events.parent), size_guidance={"images": 0})
        acc.Reload()
        for tag in acc.Tags()["images"]:
            found[tag] = [event.step for event in acc.Images(tag)]
    return found


def test_tensorboard_gets_the_sample_grids_as_images(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from conftest import REPO, TINY
    from train_gan import main

    out = tmp_path / "run"
    assert main(["--config", str(REPO / "tests/defaults.yaml"), *TINY, "log.tracker=tensorboard", "train.steps=2",
                 "log.sample_every=1", "log.run_name=tiny-tb", f"out_dir={out}"]) == 0
    assert tensorboard_images(out / "tiny-tb") == {"samples": [1, 2]}  # log.run_name names the events folder
    assert {p.relative_to(out).parts[0] for p in out.rglob("events.out.tfevents.*")} == {"tiny-tb"}  # hparams too (a subfolder)


def test_safe_logger_sends_a_png_to_tensorboard_as_an_image(tmp_path):
    # The segmentation job's overlays take this same path (gan/seg/evaluate.py -> SafeLogger.log_images).
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from accelerate import Accelerator

    from gan.engine.tracking import SafeLogger

    png = tmp_path / "overlay.png"
    Image.new("RGB", (12, 8), (200, 10, 10)).save(png)
    acc = Accelerator(cpu=True, log_with="tensorboard", project_dir=str(tmp_path / "run"))
    acc.init_trackers("p")
    logger = SafeLogger(acc, enabled=True)
    logger.log_images("val/overlay", str(png), step=7)
    logger.close()
    assert tensorboard_images(tmp_path / "run") == {"val/overlay": [7]}
