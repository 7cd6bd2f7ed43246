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
