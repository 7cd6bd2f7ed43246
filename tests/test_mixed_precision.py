"""Mixed precision on CPU: bf16 autocasts and trains; fp16 (GPU-only) says it runs in float32."""
from __future__ import annotations

import json

import pytest

from conftest import TINY
from gan.config import load_config
from gan.generation.config import GANConfig
from gan.generation.train import run_training


def tiny(tmp_path, precision: str) -> GANConfig:
    return load_config(GANConfig, None, [*TINY, f"out_dir={tmp_path}", "train.steps=3", f"train.mixed_precision={precision}"])


def test_bf16_autocasts_the_models_and_keeps_float32_losses(tmp_path, monkeypatch, fresh_accelerate_state):
    import torch

    from gan.generation.task import GANTask

    seen: list[torch.dtype] = []
    original_init = GANTask.__init__

    def init_and_watch(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # Accelerate casts model outputs back to float32, so look inside: the last D block's conv.
        self.d_raw.blocks[-1].conv.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))

    monkeypatch.setattr(GANTask, "__init__", init_and_watch)
    assert run_training(tiny(tmp_path, "bf16")) == 0
    assert seen and set(seen) == {torch.bfloat16}  # the discriminator ran under bf16 autocast
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(abs(r["d_loss"]) < 100 and abs(r["g_loss"]) < 100 for r in records)
    assert (tmp_path / "export" / "generator.safetensors").is_file()


def test_fp16_on_cpu_is_announced(tmp_path, capsys, fresh_accelerate_state):
    assert run_training(tiny(tmp_path, "fp16")) == 0
    assert "fp16 needs a GPU; on cpu it runs in float32" in capsys.readouterr().out


def test_auto_precision_is_bf16_only_where_the_hardware_has_it(tmp_path):
    from gan.engine.precision import resolve_precision

    with_bf16, without = tmp_path / "amd", tmp_path / "intel"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert resolve_precision("auto", "cpu", with_bf16) == "bf16"
    assert resolve_precision("auto", "cpu", without) == "no"
    assert resolve_precision("auto", "cpu", tmp_path / "missing") == "no"  # macOS/Windows: no /proc/cpuinfo
    assert resolve_precision("auto", "mps", with_bf16) == "no"
    assert resolve_precision("no", "cpu", with_bf16) == "no" and resolve_precision("bf16", "cpu", without) == "bf16"


@pytest.mark.parametrize("setting, shown", [("auto", "bf16"), ("no", "fp32")])  # "no" unquoted: YAML reads False
def test_the_run_announces_the_precision_it_chose(tmp_path, capsys, monkeypatch, setting, shown):
    from gan.engine import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo="": {"avx512_bf16"})
    assert run_training(tiny(tmp_path, setting)) == 0
    assert f"1 process, precision {shown}" in capsys.readouterr().out


def test_grids_and_exports_compute_in_float32_under_bf16_training(tmp_path):
    # The step autocasts; the EMA generator (grids, evaluation) must not inherit Accelerate's autocast wrapper.
    import torch

    from gan.engine.setup import make_accelerator
    from gan.generation.task import GANTask

    cfg = tiny(tmp_path, "bf16")
    task = GANTask(cfg, make_accelerator(cfg)[0])
    seen: list[torch.dtype] = []
    conv = next(m for m in task.ema.shadow.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    conv.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    task.sample_grid(0)
    assert seen and set(seen) == {torch.float32}
