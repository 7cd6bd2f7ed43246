"""Every ``python`` block of the README runs, in document order, in a folder holding what the blocks name: the
hub folders my-gan/ (a tiny class-conditional generator with the quick start's classes) and my-seg/, an image
in my_images/, and the Hub repo user/my-gan in a pre-populated Hub cache, offline. How blocks are marked:
``readme_commands.py``."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, offline_env
from readme_commands import PYTHON_MARKER, read_python_blocks

sys.path.insert(0, str(Path(__file__).parent))
from tiny_exports import populate_hub_cache, write_conditional_hub, write_seg_hub  # noqa: E402

BLOCKS = read_python_blocks(REPO / "README.md", REPO)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme_python")
    populate_hub_cache(root / "hf_cache", "user/my-gan", write_conditional_hub(root / "my-gan"))
    write_seg_hub(root / "my-seg")
    (root / "my_images").mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "my_images" / "img00.png")
    return root


def test_every_python_block_of_the_readme_is_marked_to_run() -> None:
    assert len(BLOCKS) >= 2, "the README's Python API section has lost its examples"
    unmarked = [b.source for b in BLOCKS if b.kind != "run"]
    assert not unmarked, f"mark these python blocks with {PYTHON_MARKER} (and make them run): {unmarked}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "run"], ids=[b.source for b in BLOCKS if b.kind == "run"])
def test_python_block(block, workdir: Path) -> None:
    # the PNG files a block names and that are not there yet are what it must write
    written = [name for name in re.findall(r'"([^"]+\.png)"', block.text) if not (workdir / name).exists()]
    env = {**offline_env(), "HF_HUB_CACHE": str(workdir / "hf_cache"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", block.text], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    shown = f"{block.source}\n--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert done.returncode == 0 and "Traceback" not in done.stderr, shown
    assert all((workdir / name).is_file() for name in written), shown
    if "print(" in block.text:
        assert done.stdout.strip(), shown
