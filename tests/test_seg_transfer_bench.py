"""benchmarks/seg_transfer.py's aggregation: mean +- std over seeds and paired differences, checked by hand."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("seg_transfer", REPO / "benchmarks" / "seg_transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["seg_transfer"] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


CURVES = {
    "random": {1.0: {
        0: [(10, 0.5), (20, 0.7), (30, 0.6)],  # best 0.7, final 0.6
        1: [(10, 0.6), (20, 0.8), (30, 0.8)],  # best 0.8, final 0.8
        2: [(10, 0.4), (30, 0.9)],             # best 0.9, final 0.9 (no evaluation at step 20)
    }},
    "decoder": {1.0: {
        0: [(10, 0.6), (20, 0.75), (30, 0.7)],  # best 0.75, final 0.7
        1: [(10, 0.5), (20, 0.9), (30, 0.7)],   # best 0.9, final 0.7; no seed 2
    }},
}


def test_summary_gives_mean_sample_std_and_paired_differences(bench) -> None:
    rows = {r.arm: r for r in bench.summarize(CURVES)}
    rnd, dec = rows["random"], rows["decoder"]
    assert rnd.n == 3 and dec.n == 2
    assert rnd.best == pytest.approx((0.8, 0.1))  # 0.7, 0.8, 0.9
    assert rnd.final == pytest.approx((0.7666667, math.sqrt(0.0466667 / 2)), abs=1e-6)  # 0.6, 0.8, 0.9
    assert rnd.diff_best is None and rnd.diff_final is None
    assert dec.best == pytest.approx((0.825, math.sqrt(2 * 0.075**2)))
    assert dec.final == pytest.approx((0.7, 0.0))
    # Paired over the seeds both arms ran (0 and 1): best +0.05, +0.1; final +0.1, -0.1.
    assert dec.diff_best == pytest.approx((0.075, math.sqrt(2 * 0.025**2)))
    assert dec.diff_final == pytest.approx((0.0, math.sqrt(0.02)), abs=1e-12)


def test_table_lines(bench) -> None:
    table = bench.format_table(bench.summarize(CURVES)).splitlines()
    assert table[0] == "| arm | labels | seeds | best val mIoU | final val mIoU | best - random | final - random |"
    assert table[2] == "| random | 100% | 3 | 0.800 +- 0.100 | 0.767 +- 0.153 | - | - |"
    assert table[3] == "| decoder | 100% | 2 | 0.825 +- 0.106 | 0.700 +- 0.000 | +0.075 +- 0.035 | +0.000 +- 0.141 |"


def test_one_seed_has_no_std(bench) -> None:
    row = bench.summarize({"random": {0.25: {0: [(5, 0.3), (10, 0.2)]}}})[0]
    assert row.best[0] == 0.3 and row.final[0] == 0.2 and math.isnan(row.best[1])
    assert "| random | 25% | 1 | 0.300 +- nan | 0.200 +- nan | - | - |" in bench.format_table([row])


def test_mean_curve_uses_the_steps_every_seed_has_and_plots(bench, tmp_path: Path) -> None:
    steps, mean, std = bench.mean_curve(CURVES["random"][1.0])
    assert steps == [10, 30]
    assert mean == pytest.approx([0.5, 0.7666667], abs=1e-6)
    assert std == pytest.approx([0.1, math.sqrt(0.0466667 / 2)], abs=1e-6)
    bench.plot_curves(CURVES, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_pretrained_encoder_gets_the_scratch_arm_and_its_overrides(bench, monkeypatch, tmp_path: Path) -> None:
    args = bench.parse_args(["--encoder", "efficientnet_lite0", "--out", str(tmp_path), "--set", "optim.encoder_lr_mult=0.1"])
    assert args.arms == ["random", "decoder", "scratch"]
    commands = {}
    monkeypatch.setattr(bench.seg_membrane, "timed", lambda cmd, log: commands.setdefault(log.name.split("_labels")[0], cmd))
    for arm in args.arms:
        bench.run_arm(args, Path("gan_run"), arm, 1.0, 0)
    for arm, cmd in commands.items():
        assert "model.encoder=efficientnet_lite0" in cmd and "optim.encoder_lr_mult=0.1" in cmd, arm
        assert ("init_from=gan_run" in cmd) == (arm == "decoder"), arm
        weights = [c for c in cmd if c.startswith("model.encoder_weights=")]
        assert weights[-1] == ("model.encoder_weights=none" if arm == "scratch" else "model.encoder_weights=imagenet"), arm  # the last one wins
    assert sorted(commands) == ["decoder", "random", "scratch"]
    assert bench.results_dir(args, Path("gan_run")).name.startswith("seg_steps120_gan_run_efficientnet_lite0-imagenet_set-")
    with pytest.raises(SystemExit):
        bench.parse_args(["--encoder", "efficientnet_lite0", "--arms", "random,decoder+encoder"])
    assert bench.parse_args([]).arms == ["random", "decoder", "decoder+encoder"]
