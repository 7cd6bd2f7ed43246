"""Mixed precision on CPU: bf16 autocasts and trains; fp16 (GPU-only) says it runs in float32."""
from __future__ import annotations

import json

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
