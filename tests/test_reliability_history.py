"""One history per run directory: a rewind sets the later history aside, resume=latest never returns to it."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import REPO
from test_rel_utils import TINY_GAN, metrics, train
from train_gan import main as train_gan_main


def state(folder) -> dict:
    return json.loads((folder / "trainer_state.json").read_text())


def test_resume_after_a_rewind_continues_the_new_history_and_keeps_the_abandoned_one(tmp_path, capsys):
    out = tmp_path / "run"
    ckpts = out / "checkpoints"
    assert train(out, "train.steps=6", "checkpoint.every=2") == 0
    old_rows = metrics(out)
    capsys.readouterr()
    # Rewind to step 2 with another learning rate; this run stops right after its new checkpoint-4.
    assert train(out, f"resume={ckpts / 'checkpoint-2'}", "optim.g_lr=0.0001", "train.steps=4", "checkpoint.every=2") == 0
    aside = out / "abandoned" / "t1"
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("history:")]
    assert lines == [f"history: continuing from step 2 as timeline t1; the later history (checkpoint-4, checkpoint-6, "
                     f"metrics.jsonl steps 3-6) was moved to '{aside}'"]
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert [r.get("timeline") for r in old_rows] == ["t0"] * 6
    assert state(ckpts / "checkpoint-4")["timeline"] == "t1" and state(ckpts / "checkpoint-4")["lineage"] == [["t0", 2]]
    # A crash in the middle of a rewind: one old checkpoint was never moved. The next start finishes the move.
    os.replace(aside / "checkpoints" / "checkpoint-6", ckpts / "checkpoint-6")
    capsys.readouterr()
    assert train(out, "resume=latest", "optim.g_lr=0.0001", "train.steps=6", "checkpoint.every=2") == 0
    printed = capsys.readouterr().out
    assert f"resumed from {ckpts / 'checkpoint-4'} at step 4" in printed
    assert f"history: moved checkpoint-6 (not timeline t1's) to '{aside}'" in printed
    # One history: each step once; 1-2 from t0 (as before the rewind), 3-6 from t1 (the new learning rate).
    rows = metrics(out)
    assert [(r["step"], r["timeline"]) for r in rows] == [(1, "t0"), (2, "t0"), (3, "t1"), (4, "t1"), (5, "t1"), (6, "t1")]
    assert rows[:2] == old_rows[:2] and rows[3]["g_loss"] != old_rows[3]["g_loss"]  # G at step 4 had the new rate
    assert state(ckpts / "checkpoint-6")["timeline"] == "t1"
    # The abandoned history is kept whole, not deleted.
    assert sorted(p.name for p in (aside / "checkpoints").iterdir()) == ["checkpoint-4", "checkpoint-6"]
    assert all(state(aside / "checkpoints" / n)["timeline"] == "t0" for n in ("checkpoint-4", "checkpoint-6"))
    assert [json.loads(line) for line in (aside / "metrics.jsonl").read_text().splitlines()] == old_rows[2:]


def test_a_plain_resume_stays_on_its_timeline_and_moves_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "train.steps=2", "checkpoint.every=1") == 0
    assert train(out, "resume=latest", "train.steps=3", "checkpoint.every=1") == 0
    assert [(r["step"], r["timeline"]) for r in metrics(out)] == [(1, "t0"), (2, "t0"), (3, "t0")]
    assert not (out / "abandoned").exists() and "history:" not in capsys.readouterr().out
    assert json.loads((out / "timeline.json").read_text()) == {"timeline": "t0", "lineage": []}


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hist") / "run"
    assert train(out, "train.steps=1") == 0
    return out


@pytest.mark.parametrize("field, value, message", [
    ("step", -7, "field 'step' is -7, expected an integer >= 0"),
    ("step", "3", "field 'step' is '3', expected an integer >= 0"),
    ("skipped_steps", 1.5, "field 'skipped_steps' is 1.5, expected an integer >= 0"),
    ("data", {"epoch": "x", "index": 0}, "field 'data.epoch' is 'x', expected an integer >= 0"),
    ("data", [], "field 'data' is [], expected an object with epoch and index"),
    ("config", "x", "field 'config' is 'x', expected an object (the run's config)"),
    ("files", ["../x"], "field 'files' is ['../x'], expected a list of file names"),
    ("timeline", 3, "field 'timeline' is 3, expected a timeline id like 't0'"),
    ("lineage", [["t0", -1]], "field 'lineage' is [['t0', -1]], expected a list of [timeline id, step >= 0] pairs"),
])
def test_a_bad_trainer_state_field_is_one_line_naming_file_and_field(stopped_run, tmp_path, capsys, field, value, message):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    path = run / "checkpoints" / "checkpoint-1" / "trainer_state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    capsys.readouterr()
    code = train_gan_main(["--config", str(REPO / "tests/defaults.yaml"), *TINY_GAN, f"out_dir={run}", "train.steps=2", "resume=latest"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"error: '{path}': {message}; cannot resume", err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before


def test_a_rewind_sets_the_abandoned_evaluations_and_best_export_aside_and_the_keeper_starts_over(tmp_path, capsys):
    import torch

    from gan.engine.history import History, start_history
    from gan.engine.best import BestKeeper, read_best
    from gan.evaluation.hook import PeriodicEvaluation
    from test_eval_training import ScriptedEvaluator, record_step

    model = torch.nn.Linear(2, 2)
    keeper = BestKeeper(tmp_path, higher_is_better=False)
    first = PeriodicEvaluation(ScriptedEvaluator([5.0, 3.0]), tmp_path, lambda: model, 2, record_step, keeper)
    first(2)
    at_step_2 = keeper.state_tensors()  # what checkpoint-2 holds
    first(6)  # the best (FID 3) is from step 6
    # The rewound run restores checkpoint-2's keeper (as the trainer does before it fixes the history), then rewinds to step 2.
    rewound_keeper = BestKeeper(tmp_path, higher_is_better=False)
    rewound_keeper.load_state_tensors(at_step_2)
    rewound = PeriodicEvaluation(ScriptedEvaluator([4.0]), tmp_path, lambda: model, 2, record_step, rewound_keeper)
    history, note = start_history(tmp_path, History(), 2, newer=True)
    aside = tmp_path / "abandoned" / "t1"
    assert history == History("t1", (("t0", 2),))
    assert note == f"history: continuing from step 2 as timeline t1; the later history (eval/metrics.jsonl step 6, best/ of step 6) was moved to '{aside}'"
    assert read_best(aside)["step"] == 6  # kept, set aside
    assert [json.loads(line)["step"] for line in (aside / "eval" / "metrics.jsonl").read_text().splitlines()] == [6]
    rewound(4)
    assert read_best(tmp_path)["step"] == 4 and (tmp_path / "best" / "step.txt").read_text() == "4"
    assert [json.loads(line)["step"] for line in (tmp_path / "eval" / "metrics.jsonl").read_text().splitlines()] == [2, 4]
