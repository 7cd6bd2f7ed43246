"""Tracker run identity (log.run_name, log.tags, log.entity) and the W&B model artifact of a run's exports."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from gan.config import load_config
from gan.errors import ConfigError
from gan.engine.tracking import run_identity
from gan.generation.config import GANConfig


def log_config(*overrides: str):
    return load_config(GANConfig, None, list(overrides)).log


def test_run_identity_names_the_wandb_run_and_the_tensorboard_folder() -> None:
    log = log_config("log.run_name=baseline", "log.tags=[shapes, 16px]", "log.entity=my-team")
    assert run_identity(log, "runs/quick") == ("gan-toolkit", {"wandb": {"name": "baseline", "tags": ["shapes", "16px"], "entity": "my-team"}})
    assert run_identity(log_config(), "runs/quick") == ("gan-toolkit", {"wandb": {"name": "quick"}})  # the out_dir's name, no tags or entity
    # Accelerate writes TensorBoard events to <out_dir>/<project_name>: the run name, else the project
    assert run_identity(log_config("log.tracker=tensorboard", "log.run_name=baseline"), "runs/quick") == ("baseline", {})
    assert run_identity(log_config("log.tracker=tensorboard"), "runs/quick") == ("gan-toolkit", {})


@pytest.mark.parametrize("override, message", [
    ("log.run_name=a/b", "config key 'log.run_name': got 'a/b', expected a name without / or \\ and without leading or trailing blanks"),
    ("log.run_name=..", "config key 'log.run_name': got '..', expected a name without / or \\"),
    ("log.tags=[ok, " + "x" * 65 + "]", f"config key 'log.tags': got '{'x' * 65}', expected names of 1 to 64 characters"),
])
def test_bad_run_names_and_tags_are_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        log_config(override)
    assert str(err.value).startswith(message)


@pytest.fixture
def wandb_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An Accelerator with an offline W&B run named by the log keys, and its logger (closed afterwards)."""
    from gan.engine.setup import make_accelerator

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(GANConfig, REPO / "tests/defaults.yaml", [f"out_dir={tmp_path / 'run'}", "log.tracker=wandb", "log.run_name=tiny-run",
                                                                   "log.tags=[shapes, smoke]", "log.entity=my-team"])
    acc, logger = make_accelerator(cfg)
    yield acc, logger, tmp_path / "run"
    logger.close()


def fake_export(run_dir: Path, folder: str, files: dict[str, str]) -> None:
    (run_dir / folder).mkdir(parents=True)
    for name, text in files.items():
        (run_dir / folder / name).write_text(text)


def test_wandb_run_gets_name_tags_and_entity_and_offline_logs_no_artifact(wandb_offline, monkeypatch: pytest.MonkeyPatch) -> None:
    from gan.engine.tracking import wandb_run

    acc, logger, run_dir = wandb_offline
    run = wandb_run(acc)
    assert (run.name, tuple(run.tags), run.entity, run.offline) == ("tiny-run", ("shapes", "smoke"), "my-team", True)
    uploads: list = []
    monkeypatch.setattr(type(run), "log_artifact", lambda self, *a, **k: uploads.append(a))
    fake_export(run_dir, "export", {"generator.json": "{}"})
    assert logger.log_model(run_dir, step=2) == [] and uploads == []  # offline: nothing queued for upload


def test_online_wandb_logs_export_and_best_as_model_artifact_versions(wandb_offline, monkeypatch: pytest.MonkeyPatch) -> None:
    # Online needs a W&B server: the online check is faked, the artifacts are real and logged to the (offline) run,
    # which keeps them for `wandb sync`.
    from gan.engine import tracking

    acc, logger, run_dir = wandb_offline
    run = tracking.wandb_run(acc)
    monkeypatch.setattr(tracking, "wandb_online", lambda run: True)
    calls: list[tuple[str, list[str]]] = []
    real = type(run).log_artifact
    monkeypatch.setattr(type(run), "log_artifact", lambda self, artifact, aliases=None, **k: calls.append((artifact, aliases)) or real(self, artifact, aliases=aliases, **k))
    fake_export(run_dir, "export", {"generator.json": "{}", "generator.safetensors": "w"})
    fake_export(run_dir, "best", {"generator.json": "{}", "generator.safetensors": "w", "best.json": "{}"})
    logged = logger.log_model(run_dir, step=4)
    assert [a for a, _ in calls] == logged and [aliases for _, aliases in calls] == [["latest"], ["best"]]
    assert {a.name.split(":")[0] for a in logged} == {f"model-{run.id}"} and {a.type for a in logged} == {"model"}
    assert [sorted(a.manifest.entries) for a in logged] == [["generator.json", "generator.safetensors"], ["best.json", "generator.json", "generator.safetensors"]]
    assert [a.metadata for a in logged] == [{"folder": "export", "run_step": 4}, {"folder": "best", "run_step": 4}]
