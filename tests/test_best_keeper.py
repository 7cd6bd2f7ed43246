"""The one best-export keeper (both jobs) and the registry of stateful objects that checkpoints save."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from gan.engine.best import BestKeeper, read_best
from gan.engine.state import RandomStream, Stateful, StateRegistry
from gan.errors import CheckpointError


def writer(step: int):
    def write(folder: Path) -> None:
        (folder / "step.txt").write_text(str(step))
    return write


def offer(keeper: BestKeeper, step: int, value: float, metric: str = "miou") -> bool:
    return keeper.offer(step, metric, value, writer(step), note="x")


def kept_step(run: Path) -> str:
    return (run / "best" / "step.txt").read_text()


def test_higher_is_better_ties_and_nan_never_replace(tmp_path):
    keeper = BestKeeper(tmp_path, higher_is_better=True)
    offers = ((1, 0.5), (2, 0.7), (3, 0.7), (4, 0.6), (5, float("nan")))
    assert [offer(keeper, s, v) for s, v in offers] == [True, True, False, False, False]
    assert kept_step(tmp_path) == "2"
    assert read_best(tmp_path) == {"metric": "miou", "value": 0.7, "step": 2, "note": "x"}
    assert offer(keeper, 6, 0.1, metric="pixel_acc")  # another metric starts over


def test_lower_is_better_and_the_record_survives_a_checkpoint_round_trip(tmp_path):
    keeper = BestKeeper(tmp_path, higher_is_better=False)
    offer(keeper, 1, 5.0, "fid"), offer(keeper, 2, 3.0, "fid")
    state = keeper.state_tensors()
    assert int(state["best.step"][0]) == 2 and float(state["best.value"][0]) == 3.0
    resumed = BestKeeper(tmp_path, higher_is_better=False)
    resumed.load_state_tensors(state)
    assert not offer(resumed, 3, 3.5, "fid") and kept_step(tmp_path) == "2"
    assert offer(resumed, 4, 2.5, "fid") and kept_step(tmp_path) == "4"


def test_a_resume_compares_with_the_checkpoint_record_not_with_what_best_holds(tmp_path):
    keeper = BestKeeper(tmp_path, higher_is_better=False)
    offer(keeper, 2, 3.0, "fid")
    at_step_2 = keeper.state_tensors()
    offer(keeper, 6, 1.0, "fid")  # a later history's best, then set aside by a rewind to step 2
    shutil.move(tmp_path / "best", tmp_path / "aside")
    rewound = BestKeeper(tmp_path, higher_is_better=False)
    rewound.load_state_tensors(at_step_2)
    assert not offer(rewound, 4, 3.5, "fid") and not (tmp_path / "best").exists()
    assert offer(rewound, 5, 2.0, "fid") and kept_step(tmp_path) == "5"  # beats step 2, not the abandoned 1.0


def test_no_record_yet_and_a_checkpoint_from_before_the_keeper(tmp_path):
    empty = BestKeeper(tmp_path, higher_is_better=True).state_tensors()
    assert empty == {"best.step": torch.tensor([-1])}
    writer_keeper = BestKeeper(tmp_path, higher_is_better=True)
    offer(writer_keeper, 3, 0.8)
    fresh_in_history = BestKeeper(tmp_path, higher_is_better=True)
    fresh_in_history.load_state_tensors(empty)  # the checkpoint was saved before any evaluation
    assert offer(fresh_in_history, 4, 0.2) and kept_step(tmp_path) == "4"
    legacy = BestKeeper(tmp_path, higher_is_better=True)
    legacy.load_state_tensors({})  # no keeper keys at all: best.json on disk is the record
    assert not offer(legacy, 5, 0.1) and offer(legacy, 6, 0.3)


class Counter(Stateful):
    def __init__(self, key: str) -> None:
        self.key, self.value = key, 0

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {self.key: torch.tensor([self.value])}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.value = int(tensors[self.key][0])


def test_the_registry_merges_and_restores_every_object_and_refuses_a_shared_key():
    a, b, loaded = Counter("a"), Counter("b"), []
    a.value, b.value = 3, 4
    stream = torch.Generator().manual_seed(5)
    noise = RandomStream(stream, "noise", "latent-noise RNG state")
    registry = StateRegistry([a, b, noise], after_load=lambda: loaded.append(1))
    state, rng = registry.state_tensors(), registry.rng_tensors()
    assert set(state) == {"a", "b"} and set(rng) == {"noise"}
    expected = torch.rand(2, generator=stream)
    a.value = b.value = 0
    registry.load_state_tensors(state)
    registry.load_rng_tensors(rng)
    assert (a.value, b.value, loaded) == (3, 4, [1]) and torch.equal(torch.rand(2, generator=stream), expected)
    with pytest.raises(CheckpointError, match=r"^the checkpoint has no latent-noise RNG state \('noise'\)"):
        registry.load_rng_tensors({})
    with pytest.raises(ValueError, match="two stateful objects save the same key 'a'"):
        StateRegistry([a, Counter("a")]).state_tensors()
