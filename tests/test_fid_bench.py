"""The FID benchmarks' own code (benchmarks/cifar_images.py, fid_reference.py, cifar_quality.py), by hand."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def bench(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_images_are_read_in_a_seeded_order_and_blurred_by_down_up(tmp_path):
    images = bench("cifar_images")
    for k, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        (tmp_path / f"c{k}").mkdir()
        Image.new("RGB", (32, 32), colour).save(tmp_path / f"c{k}" / "a.png")
    files = images.image_files(tmp_path, seed=3)
    assert files == images.image_files(tmp_path, seed=3) and sorted(files) == sorted(tmp_path.rglob("*.png"))
    x = images.load_uint8(files)
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(images.down_up(x), x)  # flat images survive 32 -> 16 -> 32
    checker = (torch.arange(32).view(1, 32) + torch.arange(32).view(32, 1)) % 2 * 255
    blurred = images.down_up(checker.expand(1, 3, 32, 32).to(torch.uint8))
    assert blurred.shape == (1, 3, 32, 32) and blurred.dtype == torch.uint8
    assert blurred.float().std() < 20 and abs(blurred.float().mean() - 127.5) < 2  # the 1-px pattern averages out
    with pytest.raises(SystemExit, match="no images"):
        images.image_files(tmp_path / "c0" / "none")


def test_reference_fid_equals_the_textbook_formula():
    from scipy import linalg

    ref = bench("fid_reference")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 6)), rng.standard_normal((50, 6)) * 1.5 + 0.3
    mu_a, mu_b, s_a, s_b = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    textbook = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * linalg.sqrtm(s_a @ s_b).real)
    assert ref.fid(a, b) == pytest.approx(textbook, rel=1e-6)


def test_snapshots_are_timed_from_the_launch_and_picked_below_each_time(tmp_path):
    cq = bench("cifar_quality")
    start = 1_000_000.0
    for step, t in [(100, 50), (200, 110), (300, 170), (400, 310)]:
        ckpt = tmp_path / "toolkit" / "checkpoints" / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        for name, lag in (("model.safetensors", -2), ("trainer_state.json", 0)):
            (ckpt / name).write_text("x")
            os.utime(ckpt / name, (start + t + lag, start + t + lag))
    snaps = cq.snapshots(tmp_path / "toolkit", "toolkit", start)
    assert [(round(t), s) for t, s, _ in snaps] == [(50, 100), (110, 200), (170, 300), (310, 400)]  # the newest file of each
    # budget 300 s, 3 points (100, 200, 300 s): the last snapshot saved by each; step 400 came after the budget
    assert [s for _, s, _ in cq.pick(snaps, 300, 3)] == [100, 300]
    assert [s for _, s, _ in cq.pick(snaps, 300, 6)] == [100, 200, 300]  # 50 s: none yet; repeats dropped
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "netG_0000042.pth").write_text("x")
    os.utime(plain / "netG_0000042.pth", (start + 20, start + 20))
    assert [(round(t), s) for t, s, _ in cq.snapshots(plain, "plain", start)] == [(20, 42)]


def test_plain_generator_is_scored_as_saved_and_commands_pin_each_arm(tmp_path):
    cq = bench("cifar_quality")
    g64, d64 = cq.dcgan_networks(cq.NZ)  # the example's pair, unchanged: 3,576,704 G parameters
    assert sum(p.numel() for p in g64.parameters()) == 3_576_704 and d64(g64(torch.randn(2, cq.NZ, 1, 1))).shape == (2, 1, 1, 1)
    net, d32 = cq.dcgan_networks(cq.NZ, image_size=32)
    assert sum(p.numel() for p in net.parameters()) == 1_068_928  # = the toolkit's Generator(nz=100, resolution=32, ngf=64)
    torch.save(net.state_dict(), tmp_path / "netG.pth")
    z = torch.randn(2, cq.NZ)
    with torch.no_grad():
        assert torch.equal(cq.PlainGenerator(tmp_path / "netG.pth")(z), net.eval()(z.view(2, cq.NZ, 1, 1)))
    tk = cq.toolkit_command("data", tmp_path / "a", ["loss.type=rpgan"], 50, 1)
    assert tk[:3] == ["taskset", "-c", "1"] and tk[3:9] == ["accelerate", "launch", "--config_file", "accelerate.yaml", "-q", "train_gan.py"]
    assert {"train.cpu_threads=1", "eval.every=0", "checkpoint.every=50"} <= set(tk) and tk[-1] == "loss.type=rpgan"
    plain = cq.plain_command("data", tmp_path / "b", 15, None)
    assert plain[1:] == ["benchmarks/plain_dcgan.py", "--dataroot", "data", "--imageSize", "32", "--iters", cq.FOREVER,
                         "--save-every-s", "15", "--outf", str(tmp_path / "b")]
