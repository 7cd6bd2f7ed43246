"""The on-disk format module: an export written, found and loaded back; bad exports refused before allocating."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gan.errors import CheckpointError
from gan.formats import GENERATOR, SEGMENTER, find_export, load_export, read_export_meta, write_export
from gan.models import Generator
from gan.models.blocks import DownBlock, UpBlock

KWARGS = dict(nz=4, channels=3, resolution=16, ngf=4, max_channels=8)


def test_export_round_trip_through_a_run_folder(tmp_path):
    torch.manual_seed(1)
    model = Generator(**KWARGS)
    extra = {"discriminator.safetensors": {"w": torch.arange(3.0)}}
    write_export(tmp_path / "run" / "export", GENERATOR, model.state_dict(), {"model": KWARGS, "step": 7}, extra)
    assert sorted(p.name for p in (tmp_path / "run" / "export").iterdir()) == ["discriminator.safetensors", "generator.json", "generator.safetensors"]
    assert find_export(tmp_path / "run", GENERATOR) == tmp_path / "run" / "export"
    loaded, meta = load_export(tmp_path / "run", GENERATOR, Generator)
    assert meta["step"] == 7 and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    z = torch.randn(2, 4)
    assert torch.equal(model.eval()(z), loaded(z))
    with pytest.raises(CheckpointError, match=r"holds no segmenter.safetensors \+ segmenter.json \(pass a run folder, best/, export/ or a checkpoint folder\)"):
        find_export(tmp_path / "run", SEGMENTER)


@pytest.mark.parametrize("key, value", [("nz", 500_000), ("ngf", 100_000), ("resolution", -1), ("nz", "8"), ("channels", True)])
def test_export_with_absurd_sizes_is_refused_before_building(tmp_path, key, value):
    write_export(tmp_path, GENERATOR, {}, {"model": {**KWARGS, key: value}})
    built = []
    with pytest.raises(CheckpointError, match=rf"model.{key}={value!r} is not an integer in 1\.\.\d+; refusing to build it"):
        load_export(tmp_path, GENERATOR, lambda **kw: built.append(kw))
    assert built == []


def test_unreadable_export_json_is_one_line(tmp_path):
    write_export(tmp_path, GENERATOR, {}, {"model": KWARGS})
    (tmp_path / "generator.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="is not a readable export description"):
        read_export_meta(tmp_path, GENERATOR)
    (tmp_path / "generator.json").write_text(json.dumps({"step": 1}))
    with pytest.raises(CheckpointError, match='has no "model" mapping'):
        read_export_meta(tmp_path, GENERATOR)


@pytest.mark.parametrize("block", [lambda extra: UpBlock(4, 6, extra=extra), lambda extra: DownBlock(4, 6, extra=extra)])
def test_block_slot_is_parameter_free_when_unset_and_applied_when_set(block):
    plain = block(None)
    assert isinstance(plain.extra, nn.Identity)
    assert not any(k.startswith("extra") for k in plain.state_dict())  # existing checkpoints load unchanged
    torch.manual_seed(0)
    slotted = block(nn.Conv2d(6, 6, 1))
    slotted.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(set(slotted.state_dict()) - set(plain.state_dict())) == ["extra.bias", "extra.weight"]
    x = torch.randn(2, 4, 8, 8)
    plain.eval(), slotted.eval()
    assert torch.allclose(slotted(x), slotted.extra(plain(x)))
