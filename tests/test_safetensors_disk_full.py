"""A safetensors write that fails (a full disk) is one line naming the file and the free space, and leaves no partial file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

from gan.cli import run_cli
from gan.engine.checkpoint import CheckpointManager
from gan.errors import CheckpointError
from gan.formats import GENERATOR, WriteError, save_safetensors_atomic, write_export
import gan.formats.atomic as formats

# What safetensors.torch.save_file raises when the disk fills up (checked on a 64 KiB tmpfs, safetensors 0.8).
ENOSPC = "Error while serializing: I/O error: No space left on device (os error 28)"


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the safetensors writer write half a file and then fail as on a full disk."""

    def save_file(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise SafetensorError(ENOSPC)

    monkeypatch.setattr(formats, "save_file", save_file)


def test_a_full_disk_keeps_the_old_file_and_leaves_no_partial_one(tmp_path, monkeypatch):
    path = tmp_path / "weights.safetensors"
    save_safetensors_atomic({"w": torch.arange(3.0)}, path)
    before = path.read_bytes()
    full_disk(monkeypatch)
    with pytest.raises(WriteError) as err:
        save_safetensors_atomic({"w": torch.zeros(3)}, path)
    assert str(err.value).startswith(f"cannot write '{path}': No space left on device (os error 28) (")
    assert str(err.value).endswith(" MiB free on that disk)") and "\n" not in str(err.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.safetensors"]


def test_an_export_on_a_full_disk_is_one_error_line_and_exit_2(tmp_path, monkeypatch, capsys):
    full_disk(monkeypatch)
    code = run_cli(lambda: write_export(tmp_path, GENERATOR, {"w": torch.zeros(2)}, {"model": {}}) or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: cannot write '{tmp_path / 'generator.safetensors'}': No space left on device (os error 28) (")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither a partial weights file nor a JSON claiming a complete export


def test_other_os_errors_are_one_line_too(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError, match=r"^cannot write '.*file/w.safetensors': .*\(\d+ MiB free on that disk\)$"):
        save_safetensors_atomic({"w": torch.zeros(1)}, blocker / "w.safetensors")


@pytest.mark.parametrize("error", [SafetensorError(ENOSPC), WriteError(Path("x.safetensors"), "No space left on device (os error 28)")])
def test_a_checkpoint_whose_safetensors_write_fails_is_one_line(tmp_path, error):
    # Accelerate's save_state writes model.safetensors through safetensors itself (SafetensorError);
    # the toolkit's own files come through save_safetensors_atomic (WriteError).
    manager = CheckpointManager(tmp_path, keep=2, accelerator=None)  # type: ignore[arg-type]
    tmp = tmp_path / ".tmp-checkpoint-6"
    with pytest.raises(CheckpointError) as err:
        with manager._writing(tmp):
            raise error
    assert str(err.value).startswith(f"cannot write checkpoint '{tmp}': No space left on device (os error 28) (")
    assert str(err.value).endswith(f"MiB free on that disk); the previous complete checkpoints in '{tmp_path}' are kept")
