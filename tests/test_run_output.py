"""What a training command prints: --config required."""
from __future__ import annotations

import pytest

import train_gan
import train_seg
from conftest import REPO, TINY

DEFAULTS = str(REPO / "tests/defaults.yaml")


@pytest.mark.parametrize("script, example", [(train_gan, "configs/quickstart.yaml"), (train_seg, "configs/seg_shapes.yaml")])
def test_training_without_config_is_refused_in_one_line(script, example, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert script.main(["train.steps=1"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --config is required, e.g. --config {example}"]
    assert not list(tmp_path.iterdir())  # no default run started
    assert script.main(["--dry-run"]) == 0  # printing the defaults still needs no file
