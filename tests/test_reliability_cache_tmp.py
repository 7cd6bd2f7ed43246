"""A build of the disk cache killed mid-way leaves temporaries that the next use of the folder reclaims."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from gan.data import build_image_dataset
from test_data_cache import data_cfg, folder  # noqa: F401  (the fixture)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_dead_builds_are_reclaimed_and_live_ones_kept(folder, tmp_path):  # noqa: F811
    cache = tmp_path / "cache"
    cache.mkdir()
    gone, stale = dead_pid(), time.time() - 3600  # written an hour ago: no build is writing it
    orphans = [cache / f"abc-123.u8.tmp{gone}", cache / f"abc-123.tmp{gone}.npy", cache / f"abc-123.json.tmp{gone}"]
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [cache / f"abc-123.u8.tmp{live.pid}",  # a live build (old file: its owner is alive)
                cache / f"abc-456.u8.tmp{gone}",  # being written right now, maybe by another machine
                cache / "notes.tmpx"]  # not a build's temporary
        for path in orphans + kept:
            path.write_bytes(b"x" * 10)
            if path != kept[1]:
                os.utime(path, (stale, stale))
        ds = build_image_dataset(data_cfg(folder, tmp_path, cache="disk"))
        assert len(ds) == 5
        assert [p for p in orphans if p.exists()] == []
        assert all(p.read_bytes() == b"x" * 10 for p in kept)
    finally:
        live.kill()
        live.wait()
