"""augment.*: DiffAugment ops (hand-computed on tiny images, differentiable), per-sample p, the adaptive p,
the hook in GANStep.run_D, exact resume with augmentation on, and the config's one-line errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from gan.errors import CheckpointError, ConfigError
from gan.generation.augment import AUGMENT_OPS, Augmentation, ada_update, augment, cut, cutout, shift, translation
from gan.generation.config import load_gan_config
from gan.names import GAN_AUGMENTATIONS
from test_rel_utils import differing_state_files, metrics, tiny_cfg, train

ALL = list(GAN_AUGMENTATIONS)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", ALL)
def test_each_op_passes_finite_nonzero_gradients_to_its_input(name):
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    weights = torch.randn(4, 3, 8, 8)
    y = AUGMENT_OPS[name](x, gen())
    assert y.shape == x.shape
    (y * weights).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not torch.equal(y, x)  # the op changed the images


def test_shift_of_a_4x4_image_by_hand():
    x = torch.arange(1.0, 17.0).view(1, 1, 4, 4)  # rows 1-4, 5-8, 9-12, 13-16
    out = shift(x, torch.tensor([1]), torch.tensor([-1]))  # content moves one row down and one column left
    expected = torch.tensor([[0.0, 0, 0, 0], [2, 3, 4, 0], [6, 7, 8, 0], [10, 11, 12, 0]])
    assert torch.equal(out[0, 0], expected)


def test_translation_with_a_fixed_generator_matches_the_drawn_shift():
    x = torch.arange(64.0).view(1, 1, 8, 8) + 1
    out = translation(x, gen(3))
    g = gen(3)
    dy, dx = int(torch.randint(-1, 2, (1,), generator=g)), int(torch.randint(-1, 2, (1,), generator=g))  # 8/8 = 1 pixel
    expected = torch.zeros(8, 8)
    for i in range(8):
        for j in range(8):
            if 0 <= i - dy < 8 and 0 <= j - dx < 8:
                expected[i, j] = x[0, 0, i - dy, j - dx]
    assert torch.equal(out[0, 0], expected)
    # Every sample draws its own shift: over 32 samples several different shifts occur.
    many = translation(x.expand(32, 1, 8, 8), gen(0))
    assert len({tuple(m.flatten().tolist()) for m in many}) > 3


def test_cutout_of_an_8x8_image_by_hand():
    ones = torch.ones(1, 1, 8, 8)
    out = cut(ones, torch.tensor([0]), torch.tensor([7]), (4, 4))  # rows -2..1, cols 5..8, clipped
    expected = torch.ones(8, 8)
    expected[0:2, 5:8] = 0
    assert torch.equal(out[0, 0], expected)
    drawn = cutout(ones, gen(5))
    g = gen(5)
    cy, cx = int(torch.randint(0, 9, (1,), generator=g)), int(torch.randint(0, 9, (1,), generator=g))  # size 4 (even): centre 0..8
    expected = torch.ones(8, 8)
    expected[max(cy - 2, 0):cy + 2, max(cx - 2, 0):cx + 2] = 0
    assert torch.equal(drawn[0, 0], expected)


def test_p_zero_is_the_identity_and_p_half_augments_the_drawn_samples_only():
    x = torch.randn(64, 3, 8, 8)
    assert augment(x, ALL, 0.0, gen()) is x
    out = augment(x, ALL, 0.5, gen(7))
    chosen = torch.rand(64, generator=gen(7)) < 0.5  # the first draw decides which samples are augmented
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert torch.equal(same, ~chosen) and 10 < int(chosen.sum()) < 54


def test_ada_step_by_hand():
    assert ada_update(0.5, 0.8, 0.6, 0.1) == pytest.approx(0.6)
    assert ada_update(0.5, 0.2, 0.6, 0.1) == pytest.approx(0.4)
    assert ada_update(0.5, 0.6, 0.6, 0.1) == 0.5  # sign(0) = 0
    assert ada_update(0.95, 0.9, 0.6, 0.1) == 1.0 and ada_update(0.05, -1.0, 0.6, 0.1) == 0.0


def test_adaptive_p_over_intervals_by_hand(tmp_path):
    cfg = tiny_cfg(tmp_path, "augment.policy=color", "augment.p=0.2", "augment.target=0.6", "augment.interval=2", "augment.speed_kimg=0.4")
    aug = Augmentation(cfg.augment, 0, images_per_step=8, reduce=lambda t: t)
    adjust = 8 * 2 / (0.4 * 1000)  # 0.04
    aug.observe(torch.tensor([1.0, 2.0, -1.0, 3.0]))  # signs sum 2 of 4
    assert aug.end_step(1, ok=True) == {"aug_p": 0.2}  # no update between intervals
    aug.observe(torch.tensor([5.0, 5.0, 5.0, 5.0]))  # a rejected step: its signs are dropped
    aug.end_step(2, ok=False)
    aug.observe(torch.tensor([1.0, 1.0, 1.0, 1.0]))  # signs sum 4 of 4
    out = aug.end_step(2, ok=True)
    assert out["aug_rt"] == pytest.approx(6 / 8) and out["aug_p"] == pytest.approx(0.2 + adjust)  # 0.75 > 0.6: p rises
    aug.observe(torch.tensor([-1.0, -1.0, 1.0, -1.0]))
    aug.end_step(3, ok=True)
    out = aug.end_step(4, ok=True)
    assert out["aug_rt"] == pytest.approx(-0.5) and out["aug_p"] == pytest.approx(0.2)  # p falls back
    assert float(aug.state_tensors()["augment.p"][0]) == pytest.approx(0.2)


@pytest.fixture
def task_factory(tmp_path):
    from gan.engine.setup import make_accelerator
    from gan.generation.task import GANTask

    def make(*overrides):
        cfg = tiny_cfg(tmp_path / "run", *overrides)
        return GANTask(cfg, make_accelerator(cfg)[0])

    return make


def spy_on_d(task) -> list[torch.Tensor]:
    seen = []
    real_d = task.gan_step.D
    task.gan_step.D = lambda x: (seen.append(x), real_d(x))[1]
    return seen


def test_run_d_sees_the_unmodified_tensor_without_a_policy_and_augmented_images_with_one(task_factory):
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    plain = task_factory()
    seen = spy_on_d(plain)
    plain.gan_step.run_D(x, None)
    assert seen[0] is x
    augmented = task_factory("augment.policy=translation,cutout")
    seen = spy_on_d(augmented)
    augmented.gan_step.run_D(x, None)
    assert seen[0].shape == x.shape and not torch.equal(seen[0], x)
    assert (seen[0] == 0).any()  # cutout zeros


def test_a_training_step_with_augmentation_gives_g_gradients_and_logs_aug_p(task_factory):
    from gan.engine.data_stream import BatchStream

    task = task_factory("augment.policy=color,translation,cutout", "augment.target=0.5", "augment.interval=1")
    stats = task.train_step(BatchStream(task.dataloader), 0)  # grad_accum 1: G's grads come through D's augmentation
    assert stats is not None and "aug_p" in stats and "aug_rt" in stats
    grads = [p.grad for p in task.g_raw.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


AUG = ["augment.policy=color,translation,cutout", "augment.p=0.5", "augment.target=0.3", "augment.interval=3", "augment.speed_kimg=0.1"]


def test_resume_with_adaptive_augmentation_is_exact(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(straight, "train.steps=4", "checkpoint.every=2", *AUG) == 0
    ps = [m["aug_p"] for m in metrics(straight)]
    assert ps[0] == 0.5 and ps[2] != 0.5  # p moved at step 3 (adjust = 8 * 3 / 100 = 0.24)
    # Step 2 is inside the interval: the partial sign sums must survive the resume too.
    shutil.copytree(straight / "checkpoints" / "checkpoint-2", resumed / "checkpoints" / "checkpoint-2")
    (resumed / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics(straight)[:2]))
    assert train(resumed, "resume=latest", "train.steps=4", "checkpoint.every=2", *AUG) == 0
    final = "checkpoints/checkpoint-4"
    assert differing_state_files(straight / final, resumed / final) == []  # weights, EMA + aug p, RNGs incl. the augmentation's
    assert "augment" in load_file(straight / final / "toolkit_rng_0.safetensors")
    assert metrics(resumed) == metrics(straight)


def test_resuming_a_checkpoint_without_augmentation_rng_state_is_a_checkpoint_error(tmp_path):
    from gan.engine.setup import make_accelerator
    from gan.engine.trainer import Trainer, TrainerSettings
    from gan.generation.task import GANTask

    run = tmp_path / "run"
    assert train(run, "train.steps=2", *AUG) == 0
    rng_path = run / "checkpoints" / "checkpoint-2" / "toolkit_rng_0.safetensors"
    save_file({k: v for k, v in load_file(rng_path).items() if not k.startswith("augment")}, rng_path)
    cfg = tiny_cfg(run, "resume=latest", *AUG)
    acc, logger = make_accelerator(cfg)
    trainer = Trainer(TrainerSettings.of(cfg), GANTask(cfg, acc), acc, logger)
    with pytest.raises(CheckpointError, match=r"^the checkpoint has no augmentation RNG state \('augment'\); cannot resume exactly"):
        trainer.maybe_resume()


@pytest.mark.parametrize("override, message", [
    ("augment.policy=color,zoom", "config key 'augment.policy': got 'zoom', expected comma-separated names among color, translation, cutout"),
    ("augment.p=1.5", "config key 'augment.p': got 1.5, expected in [0, 1]"),
    ("augment.target=1", "config key 'augment.target': got 1.0, expected in [0, 1)"),
    ("augment.interval=0", "config key 'augment.interval': got 0, expected >= 1"),
    ("augment.speed_kimg=0", "config key 'augment.speed_kimg': got 0.0, expected > 0"),
])
def test_augment_config_errors_are_one_line(override, message):
    with pytest.raises(ConfigError) as err:
        load_gan_config(None, [override])
    assert str(err.value) == message


def test_policy_names_are_trimmed_and_empty_means_off():
    assert load_gan_config(None, ["augment.policy= color , cutout"]).augment.names() == ["color", "cutout"]
    assert load_gan_config(None, []).augment.names() == []
