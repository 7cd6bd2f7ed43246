"""Tracker selection offline, and the loss-curve plot / JSONL log."""
from __future__ import annotations

import json

from PIL import Image

from gan.engine.stats import StatsCollector, plot_curves, read_jsonl
from gan.engine.tracking import tracker_settings


def test_wandb_without_credentials_goes_offline(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    log_with, kwargs = tracker_settings("wandb", "runs/x")
    assert log_with == "wandb" and kwargs == {"wandb": {"dir": "runs/x", "mode": "offline"}}
    assert "logging offline" in capsys.readouterr().out


def test_explicit_wandb_mode_and_other_trackers(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracker_settings("wandb", "d") == ("wandb", {"wandb": {"dir": "d", "mode": "disabled"}})
    assert tracker_settings("none", "d") == (None, {})
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
