"""benchmarks/train_matrix.py: its timing and table by hand, and a toy run of real rows on the CPU."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cmd

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_matrix", REPO / "benchmarks" / "train_matrix.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_clock_times_only_the_steps_after_the_warm_up(bench, monkeypatch):
    clock = bench.Clock(torch.device("cpu"), at=(2, 6))
    clock.stamps = {0: 10.0}
    for step, now in [(1, 11.0), (2, 13.0), (3, 13.5), (6, 15.0)]:
        monkeypatch.setattr(bench.time, "perf_counter", lambda now=now: now)
        clock(step)
    assert clock.stamps == {0: 10.0, 2: 13.0, 6: 15.0}  # step 1 and 3 are not stamped
    assert clock.result(warmup=2, steps=4, batch=8) == {"warmup_s": 3.0, "images_per_s": 4 * 8 / 2.0}


def test_the_table_gives_each_row_its_ratio_to_plain_at_the_same_batch(bench):
    rows = [
        {"row": "plain", "batch": 64, "warmup_s": 1.0, "images_per_s": 50.0},
        {"row": "bf16", "batch": 64, "warmup_s": 0.5, "images_per_s": 125.0},
        {"row": "fp16-nhwc", "batch": 64, "skipped": "fp16 needs a GPU"},
        {"row": "bf16", "batch": 256, "warmup_s": 2.0, "images_per_s": 300.0},  # no plain row at 256
    ]
    lines = bench.table(rows).splitlines()
    assert lines[2] == "| plain | 64 | 50.0 | 1.00x | 1.0 |"
    assert lines[3] == "| bf16 | 64 | 125.0 | 2.50x | 0.5 |"
    assert lines[4] == "| fp16-nhwc | 64 | fp16 needs a GPU | | |"
    assert lines[5] == "| bf16 | 256 | 300.0 |  | 2.0 |"


def test_a_toy_matrix_runs_each_row_in_its_own_process_and_writes_the_rows(bench, tmp_path):
    rng = np.random.default_rng(0)
    for label in "ab":
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "images" / label / f"{i}.png")
    out = tmp_path / "matrix.json"
    done = run_cmd([sys.executable, "benchmarks/train_matrix.py", "--folder", str(tmp_path / "images"), "--rows",
                    "plain,fp32,fp16-nhwc", "--batches", "8", "--steps", "2", "--warmup", "1", "--ngf", "4", "--ndf", "4",
                    "--json", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["row"] for r in rows] == ["plain", "fp32", "fp16-nhwc"] and all(r["batch"] == 8 for r in rows)
    assert all(r["images_per_s"] > 0 and r["warmup_s"] > 0 for r in rows[:2])
    if torch.cuda.is_available():
        assert rows[2]["images_per_s"] > 0
    else:  # CI
        assert rows[2] == {"row": "fp16-nhwc", "batch": 8, "skipped": bench.GPU_ONLY["fp16-nhwc"]}
    ratio = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    assert f"| fp32 | 8 | {rows[1]['images_per_s']:.1f} | {ratio:.2f}x |" in done.stdout  # the printed table is the file's


def test_an_unknown_row_is_a_one_line_error(tmp_path):
    done = run_cmd([sys.executable, "benchmarks/train_matrix.py", "--folder", str(tmp_path), "--rows", "fp32,bf32"])
    assert done.returncode == 2 and "--rows: unknown bf32; expected some of plain, fp32-pil" in done.stderr
