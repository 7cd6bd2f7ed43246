"""sample.py as a new user meets it: a missing source, a fast --help, and help examples that work on a quick-start run."""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from conftest import REPO, TINY, run_cmd  # noqa: E402

import sample  # noqa: E402


def test_a_missing_source_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture):
    """It was "'PATH' holds no generator.safetensors + generator.json (...)", as if the folder existed."""
    missing = tmp_path / "no-such-run"
    assert sample.main([str(missing), "--grid", str(tmp_path / "g.png")]) == 2
    assert capsys.readouterr().err == f"error: '{missing}' does not exist\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script, argv", [
    ("export", ["--format", "safetensors", "--out", "{out}"]),  # tries a generator, then a segmenter
    ("predict_seg", ["{images}", "{out}"]),
])
def test_the_other_scripts_sharing_the_loader_say_so_too(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch, script, argv):
    import importlib

    monkeypatch.syspath_prepend(str(REPO))
    (tmp_path / "images").mkdir()
    missing = tmp_path / "no-such-run"
    args = [a.format(out=tmp_path / "out", images=tmp_path / "images") for a in argv]
    assert importlib.import_module(script).main([str(missing), *args]) == 2
    assert capsys.readouterr().err == f"error: '{missing}' does not exist\n"
    assert not (tmp_path / "out").exists()


def test_help_imports_no_torch(tmp_path: Path):
    """--help answered before torch is imported (it took ~3 s: the --device default asked torch for CUDA)."""
    done = run_cmd([sys.executable, "-X", "importtime", "sample.py", "--help"])
    assert done.returncode == 0 and "usage: sample.py" in done.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "gan.cli" in imported and not [m for m in imported if m.split(".")[0] in ("torch", "numpy", "accelerate")], imported


def help_examples() -> list[list[str]]:
    """The ``python sample.py ...`` command lines of sample.py's help, without their comments."""
    return [shlex.split(line.split("#")[0])[2:] for line in sample.__doc__.splitlines() if line.strip().startswith("python sample.py")]


def test_help_examples_name_a_run_that_a_shipped_config_writes():
    """The help used runs/digits, which no config writes; its class names must be the quick start's."""
    out_dirs = {yaml.safe_load(p.read_text()).get("out_dir") for p in (REPO / "configs").glob("*.yaml")}
    runs = {Path(argv[0]).parts[0] + "/" + Path(argv[0]).parts[1] for argv in help_examples()}
    assert runs == {"runs/quickstart"} and runs <= out_dirs


def test_help_examples_run_on_a_tiny_quick_start_run(tmp_path: Path, monkeypatch, capsys):
    """Every example of the help, on a one-step run of configs/quickstart.yaml (circle, square, triangle)."""
    run = tmp_path / "runs" / "quickstart"
    done = run_cmd([sys.executable, "train_gan.py", "--config", "configs/quickstart.yaml", *TINY, "train.steps=1", f"out_dir={run}"])
    assert done.returncode == 0, done.stderr[-2000:]
    for i, argv in enumerate(help_examples()):
        work = tmp_path / f"example{i}"
        work.mkdir()
        (work / "runs").symlink_to(tmp_path / "runs")
        monkeypatch.chdir(work)
        assert sample.main(argv) == 0, (argv, capsys.readouterr().err)
        assert re.search(r"^wrote ", capsys.readouterr().out, re.M), argv
    names = sorted(p.name for p in (tmp_path / "example2" / "samples").iterdir())
    assert len(names) == 100 and names[0] == "label1-seed000000.png" and names[-1] == "label1-seed000099.png"  # --labels square
