"""eval.download_weights: auto fetches missing Inception weights when online, else one line before any work.

Nothing here reaches the network: the download (torch.hub.download_url_to_file) is replaced by a copy
of a random-weights file, and "online" by a stubbed reachability probe.
"""
from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from gan.config import from_dict, is_resumable, load_config, to_dict
from gan.errors import ConfigError
from gan.evaluation import MissingWeightsError, bundled, resolve_inception_weights, weights as weights_module
from gan.evaluation.weights import INCEPTION_FILE, INCEPTION_URL, host_reachable
from gan.formats import save_safetensors_atomic, write_json_atomic
from gan.wheel_files import file_sha256
from gan.generation.config import GANConfig
from gan.generation.task import generator_kwargs
from gan.models import Generator
from gan.offline import OFFLINE_ENV_VARS

REPO = Path(__file__).resolve().parents[1]
N = 8
TINY = ["data.name=shapes", "data.resolution=16", f"data.shapes_size={N}", "model.nz=8", "model.ngf=8", "model.ndf=8", "log.tracker=none"]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, no offline variables, no fid extra: the machine of a new user. Returns the weights' hub path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(bundled, "find_bundled", lambda: None)  # with the extra, FID needs no download (tests/test_fid_bundled.py)
    for var in OFFLINE_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "torch_home" / "hub" / "checkpoints" / INCEPTION_FILE


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, weights: str) -> list[tuple[str, str]]:
    """The weights' host answers; a download copies the random-weights file. Returns the (url, dest) downloads."""
    calls: list[tuple[str, str]] = []

    def fake_download(url: str, dst: str, *args, **kwargs) -> None:
        calls.append((url, dst))
        shutil.copyfile(weights, dst)

    monkeypatch.setattr(weights_module, "host_reachable", lambda url, timeout=5: "")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    return calls


def write_run(run: Path, *extra: str) -> Path:
    """A tiny run with an export (its stored config has the default eval.download_weights unless ``extra`` sets it)."""
    cfg = load_config(GANConfig, None, TINY + [f"out_dir={run}", *extra])
    torch.manual_seed(0)
    (run / "export").mkdir(parents=True)
    save_safetensors_atomic(Generator(**generator_kwargs(cfg)).state_dict(), run / "export" / "generator.safetensors")
    write_json_atomic(run / "export" / "generator.json", {"model": generator_kwargs(cfg), "step": 0, "config": to_dict(cfg)})
    return run


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)  # speed: see test_eval.py
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.syspath_prepend(str(REPO))
    import evaluate

    return evaluate


def test_default_is_auto_and_the_config_takes_true_false(tmp_path):
    assert load_config(GANConfig).eval.download_weights == "auto"
    assert load_config(GANConfig, None, ["eval.download_weights=true"]).eval.download_weights == "true"
    assert load_config(GANConfig, None, ["eval.download_weights=false"]).eval.download_weights == "false"
    with pytest.raises(ConfigError, match=r"^config key 'eval.download_weights': got 'maybe', expected one of 'auto', 'true', 'false'$"):
        load_config(GANConfig, None, ["eval.download_weights=maybe"])
    # a checkpoint written before "auto" stored false (a bool): it still loads, and resuming it with auto is allowed
    assert from_dict(GANConfig, {"eval": {"download_weights": False}}).eval.download_weights == "false"
    assert is_resumable(GANConfig, "eval.download_weights")


def test_auto_downloads_missing_weights_into_the_hub_cache_when_online(hub, online, weights):
    assert resolve_inception_weights("") == hub.resolve()
    assert online == [(INCEPTION_URL, str(hub))]
    assert file_sha256(hub) == file_sha256(Path(weights))
    assert resolve_inception_weights("") == hub.resolve() and len(online) == 1  # present now: not fetched again


def test_true_downloads_even_offline_and_false_never_does(hub, online, monkeypatch):
    with pytest.raises(MissingWeightsError, match="eval.download_weights=true when online"):
        resolve_inception_weights("", "false")
    assert online == [] and not hub.parent.exists()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_inception_weights("", "true") == hub.resolve() and online == [(INCEPTION_URL, str(hub))]


def test_auto_offline_is_one_line_naming_file_place_url_and_reason(hub, online, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingWeightsError) as err:
        resolve_inception_weights("")
    assert str(err.value) == (
        f"Inception weights not found at '{hub}' (the torch hub cache; TORCH_HOME moves it), and it cannot be downloaded "
        f"(HF_HUB_OFFLINE=1 is set): download {INCEPTION_URL} and put it there (or set eval.inception_weights=/path/to/{INCEPTION_FILE})"
    )
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(weights_module, "host_reachable", lambda url, timeout=5: "github.com is not reachable: timed out")
    with pytest.raises(MissingWeightsError, match=r"cannot be downloaded \(github.com is not reachable: timed out\)"):
        resolve_inception_weights("")
    assert online == [] and not hub.parent.exists()


def test_host_reachable_probes_a_real_socket():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert host_reachable(f"http://127.0.0.1:{port}/weights.pth", timeout=2) == ""
    why = host_reachable(f"http://127.0.0.1:{port}/weights.pth", timeout=2)  # closed now: refused
    assert why.startswith("127.0.0.1 is not reachable: ") and "\n" not in why


def test_evaluate_cli_online_downloads_and_uses_the_weights(hub, online, weights, tmp_path, cli, capsys):
    run = write_run(tmp_path / "runs" / "x")
    assert cli.main([str(run), "--metrics", "fid", "--num-samples", str(N), f"eval.num_real={N}", "--device", "cpu"]) == 0
    assert online == [(INCEPTION_URL, str(hub))]
    protocol = json.loads((run / "export" / "evaluation.json").read_text())["protocol"]
    assert protocol["feature_extractor"]["weights_sha256"] == file_sha256(Path(weights))  # the downloaded file scored it
    assert f"downloading {INCEPTION_URL} to '{hub}'" in capsys.readouterr().err


def test_evaluate_cli_decides_downloads_itself_not_the_runs_stored_config(hub, online, tmp_path, cli):
    run = write_run(tmp_path / "runs" / "x", "eval.download_weights=false")  # e.g. trained before auto was the default
    assert cli.main([str(run), "--metrics", "fid", "--num-samples", str(N), f"eval.num_real={N}", "--device", "cpu"]) == 0
    assert online == [(INCEPTION_URL, str(hub))]
    hub.unlink()
    assert cli.main([str(run), "--num-samples", str(N), "eval.download_weights=false", "--device", "cpu"]) == 2  # its own line decides
    assert len(online) == 1


def test_evaluate_cli_offline_stops_before_any_work_with_one_line(hub, online, tmp_path, cli, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = write_run(tmp_path / "runs" / "x")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cli.main([str(run), "--metrics", "fid", "--num-samples", str(N), "--device", "cpu"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Inception weights not found at '{hub}'"), lines
    assert INCEPTION_URL in lines[0] and "HF_HUB_OFFLINE=1 is set" in lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no result, cache or hub folder written
    assert online == []


def test_host_reachable_probes_the_proxy_that_the_download_would_use(monkeypatch):
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        monkeypatch.delenv("https_proxy", raising=False)  # urllib prefers the lower-case name
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert host_reachable("https://weights.invalid/w.pth", timeout=2) == ""  # the proxy answers, not the (unresolvable) host
