"""What a training command prints: --config required, the final progress-bar line and the end line."""
from __future__ import annotations

import re
import time

import pytest

import train_gan
import train_seg
from conftest import REPO, TINY
from gan.engine.trainer import Trainer

DEFAULTS = str(REPO / "tests/defaults.yaml")


@pytest.mark.parametrize("script, example", [(train_gan, "configs/quickstart.yaml"), (train_seg, "configs/seg_shapes.yaml")])
def test_training_without_config_is_refused_in_one_line(script, example, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert script.main(["train.steps=1"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --config is required, e.g. --config {example}"]
    assert not list(tmp_path.iterdir())  # no default run started
    assert script.main(["--dry-run"]) == 0  # printing the defaults still needs no file


@pytest.mark.parametrize("script", [train_gan, train_seg])
def test_options_may_follow_the_overrides(script, capsys):
    """`... key=value --dry-run key=value` (as typed after a README command) is one command line, not an error."""
    config = str(REPO / ("configs/quickstart.yaml" if script is train_gan else "configs/seg_shapes.yaml"))
    assert script.main(["--config", config, "train.steps=7", "--dry-run", "train.batch_size=3"]) == 0
    out = capsys.readouterr().out
    assert "steps: 7" in out and "batch_size: 3" in out


def bar_lines(err: str, total: int) -> list[str]:
    """The progress-bar renderings of ``total/total`` steps in captured stderr (tqdm separates them by \\r)."""
    return [part for part in re.split(r"[\r\n]", err) if part.startswith("train:") and f" {total}/{total} " in part]


def test_one_step_run_prints_one_final_bar_line_and_a_singular_end_line(tmp_path, capsys):
    assert train_gan.main(["--config", DEFAULTS, *TINY, "train.steps=1", f"out_dir={tmp_path / 'run'}"]) == 0
    captured = capsys.readouterr()
    assert len(bar_lines(captured.err, 1)) == 1, captured.err
    assert f"done: 1 step; export in {tmp_path / 'run' / 'export'}" in captured.out


def rate_in_steps_per_s(line: str) -> float:
    found = re.search(r"([\d.]+)(step/s|s/step)", line)
    assert found, line
    value = float(found.group(1))
    return value if found.group(2) == "step/s" else 1 / value


def test_images_per_s_on_the_last_line_is_the_bar_rate_times_the_images_of_a_step(tmp_path, capsys, monkeypatch):
    # Slow hooks (here a sleep) are part of the wall-clock time the bar's rate counts; images_per_s must count
    # them too. The last line shows run averages for both (tqdm's rule for its final line).
    run_hooks = Trainer._run_hooks

    def slow_hooks(self, step, final):
        time.sleep(0.3)
        run_hooks(self, step, final)

    monkeypatch.setattr(Trainer, "_run_hooks", slow_hooks)
    assert train_gan.main(["--config", DEFAULTS, *TINY, "train.steps=4", "log.sample_every=100", f"out_dir={tmp_path / 'run'}"]) == 0
    [final] = bar_lines(capsys.readouterr().err, 4)
    images_per_s = float(re.search(r"images_per_s=([\d.]+)", final).group(1))
    batch = 8  # TINY: train.batch_size=8, one D step, one process: the images of one step
    assert 0.95 < images_per_s / (rate_in_steps_per_s(final) * batch) < 1.05, final  # both shown to 3 digits
