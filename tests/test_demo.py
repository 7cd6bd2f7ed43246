"""The demo's functions (directly and through gradio_client against a launched app) and its imports."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, offline_env

sys.path.insert(0, str(Path(__file__).parent))
from demo_server import serve  # noqa: E402
from tiny_exports import ConditionalGenerator, write_gan_export, write_seg_export  # noqa: E402

gr = pytest.importorskip("gradio")
from gan.deploy.demo import DemoModel, build_app  # noqa: E402
from gan.deploy.source import Loaded  # noqa: E402

TILE = 64 + 2  # 16x16 images are shown 4x enlarged, with 2 px of grid padding


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("demo")
    return {"gan": write_gan_export(root / "gan"), "seg": write_seg_export(root / "seg")}


@pytest.fixture(scope="module")
def gan_demo(exports: dict[str, Path]) -> DemoModel:
    return DemoModel(exports["gan"])


@pytest.fixture(scope="module")
def seg_demo(exports: dict[str, Path]) -> DemoModel:
    return DemoModel(exports["seg"])


def tile(grid: np.ndarray, row: int, col: int) -> np.ndarray:
    return grid[2 + row * TILE: row * TILE + TILE, 2 + col * TILE: col * TILE + TILE]


def test_samples_come_from_seeds_and_new_samples_moves_on(gan_demo: DemoModel) -> None:
    grid = gan_demo.samples(3, 4)
    assert grid.shape == (2 * TILE + 2, 2 * TILE + 2, 3) and grid.dtype == np.uint8
    assert np.array_equal(grid, gan_demo.samples(3, 4))  # deterministic
    assert np.array_equal(tile(grid, 0, 1), gan_demo.samples(4, 1))  # image i comes from seed 3+i (one image: no padding)
    assert not np.array_equal(tile(grid, 0, 0), tile(grid, 0, 1))
    seed, new = gan_demo.new_samples(3, 4)
    assert seed == 7 and np.array_equal(new, gan_demo.samples(7, 4)) and not np.array_equal(new, grid)


def test_interpolation_strip_runs_from_one_seed_to_the_other(gan_demo: DemoModel) -> None:
    strip = gan_demo.interpolate(2, 9, 5)
    assert strip.shape == (TILE + 2, 5 * TILE + 2, 3)
    ends = (tile(strip, 0, 0), tile(strip, 0, 4))
    for end, seed in zip(ends, (2, 9)):
        assert np.abs(end.astype(int) - gan_demo.samples(seed, 1)).max() <= 1  # slerp endpoints (float rounding)
    assert not np.array_equal(tile(strip, 0, 2), ends[0]) and not np.array_equal(tile(strip, 0, 2), ends[1])


def test_segment_returns_the_prediction_overlaid_on_the_image(seg_demo: DemoModel) -> None:
    from gan.seg.overlay import class_palette
    from gan.seg.predict import predict_image

    image = np.random.default_rng(0).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    overlay = seg_demo.segment(image)
    assert overlay.shape == (20, 28, 3) and overlay.dtype == np.uint8
    x = torch.from_numpy(image.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    labels = predict_image(seg_demo.loaded.model, x, 16).numpy()
    expected = (0.5 * image + 0.5 * class_palette(4)[labels]).round()
    assert np.abs(overlay.astype(float) - expected).max() <= 1
    assert np.array_equal(seg_demo.segment(image[..., 0]).shape, (20, 28, 3))  # grayscale upload


def _dropdown(app: object) -> object:
    return next(b for b in app.blocks.values() if isinstance(b, gr.Dropdown))


def test_class_control_only_for_conditional_generators(gan_demo: DemoModel) -> None:
    assert not gan_demo.conditional and _dropdown(build_app(gan_demo)).visible is False
    torch.manual_seed(0)
    model = ConditionalGenerator(nz=8, num_classes=3, channels=3, resolution=16, ngf=8).eval().requires_grad_(False)
    meta = {"model": {"nz": 8, "channels": 3, "resolution": 16, "num_classes": 3}, "label_names": ["circle", "square", "triangle"]}
    dm = DemoModel(Loaded(model, meta, "generator", Path(".")))
    dropdown = _dropdown(build_app(dm))
    assert dm.conditional and dropdown.visible is True and [c[0] for c in dropdown.choices] == ["circle", "square", "triangle"]
    assert not np.array_equal(dm.samples(0, 2, "circle"), dm.samples(0, 2, "triangle"))  # the class changes the images
    assert np.array_equal(dm.samples(0, 2, "square"), dm.samples(0, 2, "square"))


def test_demo_imports_none_of_the_training_extras(exports: dict[str, Path]) -> None:
    code = (
        "import sys; from gan.deploy.demo import DemoModel, build_app\n"
        f"for src in {[str(exports['gan']), str(exports['seg'])]!r}: build_app(DemoModel(src))\n"
        "print(sorted(m for m in ('accelerate', 'wandb', 'torch_fidelity', 'gan.engine.trainer', 'gan.generation.task') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=offline_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture(scope="module")
def gan_url(gan_demo: DemoModel):
    with serve(build_app(gan_demo)) as url:
        yield url


def read(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_gradio_client_calls_the_generator_endpoints(gan_demo: DemoModel, gan_url: str) -> None:
    from gradio_client import Client

    client = Client(gan_url, verbose=False)
    assert np.array_equal(read(client.predict(5, 4, None, api_name="/samples")), gan_demo.samples(5, 4))
    seed, path = client.predict(5, 4, None, api_name="/new_samples")
    assert seed == 9 and np.array_equal(read(path), gan_demo.samples(9, 4))
    assert np.array_equal(read(client.predict(0, 3, 6, None, api_name="/interpolate")), gan_demo.interpolate(0, 3, 6))


def test_gradio_client_segments_an_upload(seg_demo: DemoModel, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    image = np.random.default_rng(1).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    with serve(build_app(seg_demo)) as url:
        out = Client(url, verbose=False).predict(handle_file(str(tmp_path / "in.png")), api_name="/segment")
    assert np.array_equal(read(out), seg_demo.segment(image))


def test_demo_cli_serves_the_app(exports: dict[str, Path]) -> None:
    import json
    import time
    import urllib.request

    from demo_server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "demo.py", str(exports["gan"]), "--port", str(port)], cwd=REPO, env=offline_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, config = time.monotonic() + 240, None
        while config is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as r:
                    config = json.loads(r.read())
            except OSError:
                time.sleep(1)
        assert config is not None, f"demo.py did not serve: {proc.poll()} {proc.stdout.read() if proc.poll() is not None else ''}"
        labels = [c.get("props", {}).get("value") for c in config["components"]]
        assert "new samples" in labels and "interpolate" in labels
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_demo_cli_reports_a_bad_source_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "demo.py", str(tmp_path)], cwd=REPO, env=offline_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == f"error: '{tmp_path}' holds neither a generator nor a segmenter export (a run, export/, best/, checkpoint or hub folder)"


# ---- inputs, events, examples, --share -----------------------------------------------------------


def conditional_demo() -> DemoModel:
    torch.manual_seed(0)
    model = ConditionalGenerator(nz=8, num_classes=3, channels=3, resolution=16, ngf=8).eval().requires_grad_(False)
    meta = {"model": {"nz": 8, "channels": 3, "resolution": 16, "num_classes": 3}, "label_names": ["circle", "square", "triangle"]}
    return DemoModel(Loaded(model, meta, "generator", Path(".")))


@pytest.mark.parametrize("call, message", [
    (lambda dm: dm.samples(-1, 4), f"first seed: got -1, expected a whole number from 0 to {2**63 - 4}"),
    (lambda dm: dm.samples(None, 4), f"first seed: got None, expected a whole number from 0 to {2**63 - 4}"),
    (lambda dm: dm.samples(1.5, 4), f"first seed: got 1.5, expected a whole number from 0 to {2**63 - 4}"),
    (lambda dm: dm.samples(0, 0), "images: got 0, expected a whole number from 1 to 64"),
    (lambda dm: dm.samples(0, 65), "images: got 65, expected a whole number from 1 to 64"),
    (lambda dm: dm.new_samples(-3, 4), f"first seed: got -3, expected a whole number from 0 to {2**63 - 8}"),
    (lambda dm: dm.interpolate(-1, 3, 5), f"from seed: got -1, expected a whole number from 0 to {2**63 - 1}"),
    (lambda dm: dm.interpolate(0, float("nan"), 5), f"to seed: got nan, expected a whole number from 0 to {2**63 - 1}"),
    (lambda dm: dm.interpolate(0, 3, 1), "steps: got 1, expected a whole number from 2 to 16"),
], ids=["negative-seed", "empty-seed", "fractional-seed", "no-images", "too-many-images", "new-negative-seed", "negative-from-seed",
        "nan-to-seed", "one-step"])
def test_bad_generator_inputs_are_one_gr_error_naming_the_control(gan_demo: DemoModel, call, message: str) -> None:
    with pytest.raises(gr.Error) as err:
        call(gan_demo)
    assert err.value.message == message and err.value.print_exception is False  # shown in the page, no terminal traceback


def test_bad_class_and_missing_upload_are_gr_errors(seg_demo: DemoModel) -> None:
    with pytest.raises(gr.Error) as err:
        conditional_demo().samples(0, 2, "hexagon")
    assert err.value.message == "class: got 'hexagon', expected one of circle, square, triangle"
    with pytest.raises(gr.Error) as err:
        seg_demo.segment(None)
    assert err.value.message == "no image: upload one or pick an example below it" and err.value.print_exception is False


def test_negative_seed_through_the_client_is_a_message_without_a_terminal_traceback(gan_url: str, capfd) -> None:
    from gradio_client import Client

    client = Client(gan_url, verbose=False)
    capfd.readouterr()
    with pytest.raises(Exception, match="first seed: got -1, expected a whole number from 0 to"):
        client.predict(-1, 4, None, api_name="/samples")
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, out + err


def wiring(app: object) -> dict[tuple[str, str, str], object]:
    """``{(input elem_id, event, output elem_id): the function it runs}`` of an app's events."""
    config = app.get_config_file()
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    return {(ids[t[0]], t[1], ids[d["outputs"][0]]): app.fns[d["id"]].fn for d in config["dependencies"] for t in d["targets"]
            if t[0] in ids and d["outputs"]}


def test_grid_and_strip_follow_every_control() -> None:
    dm = conditional_demo()
    wired = wiring(build_app(dm))
    expected = {(c, "change", "grid") for c in ("seed", "num", "label")} | {(c, "change", "strip") for c in ("seed_a", "seed_b", "steps", "label")}
    assert expected <= set(wired)
    refresh = wired[("label", "change", "grid")]
    assert np.array_equal(refresh(0, 2, "triangle"), dm.samples(0, 2, "triangle"))  # the grid of the new class
    assert not np.array_equal(refresh(0, 2, "triangle"), dm.samples(0, 2, "circle"))
    assert np.array_equal(wired[("steps", "change", "strip")](1, 4, 3, "square"), dm.interpolate(1, 4, 3, "square"))
    # a number box emptied while typing leaves the output as it is (no error popup); a bad value is still an error
    assert isinstance(wired[("seed", "change", "grid")](None, 2, "circle"), type(gr.skip()))
    with pytest.raises(gr.Error):
        wired[("seed", "change", "grid")](-1, 2, "circle")


def examples_of(app: object) -> list[list]:
    return [c["props"]["samples"] for c in app.get_config_file()["components"] if c["type"] == "dataset"]


def test_generator_demos_have_example_inputs(gan_demo: DemoModel) -> None:
    assert examples_of(build_app(gan_demo)) == [[[0, 16], [64, 16], [1000, 4], [12345, 1]]]  # first seed, images
    # a conditional model's examples also pick a class, in turn
    assert examples_of(build_app(conditional_demo())) == [[[0, 16, "circle"], [64, 16, "square"], [1000, 4, "triangle"], [12345, 1, "circle"]]]


def test_segmentation_overlay_follows_the_upload(seg_demo: DemoModel) -> None:
    wired = wiring(build_app(seg_demo))
    image = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(wired[("seg_input", "change", "seg_overlay")](image), seg_demo.segment(image))
    assert wired[("seg_input", "change", "seg_overlay")](None) is None  # a cleared upload clears the overlay


def test_segmentation_upload_has_served_shape_examples(seg_demo: DemoModel, tmp_path: Path) -> None:
    import urllib.request

    from gradio_client import Client, handle_file

    from gan.data.shapes import render_shapes
    from gan.deploy.demo import EXAMPLES_SEED, NUM_EXAMPLES

    app = build_app(seg_demo)
    samples = next(c for c in app.get_config_file()["components"] if c["type"] == "dataset")["props"]["samples"]
    assert len(samples) == NUM_EXAMPLES
    with serve(app) as url:
        for index, (sample,) in enumerate(samples):
            with urllib.request.urlopen(url.rstrip("/") + sample["url"], timeout=30) as r:
                (tmp_path / "example.png").write_bytes(r.read())
            image = read(str(tmp_path / "example.png"))
            assert np.array_equal(image, render_shapes(EXAMPLES_SEED, index, 16)[0])  # an embedded-shapes image at the model's size
        out = Client(url, verbose=False).predict(handle_file(str(tmp_path / "example.png")), api_name="/segment")
    assert np.array_equal(read(out), seg_demo.segment(image))


@pytest.mark.parametrize("flags, share", [([], False), (["--share"], True)])
def test_demo_cli_share_flag_reaches_launch(exports: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys, flags: list[str], share: bool) -> None:
    launched: list[dict] = []

    def fake_launch(self, **kwargs):  # Gradio's share servers answer: a link, and a note printed
        launched.append(kwargs)
        self.share_url = "https://0123456789abcdef.gradio.live" if kwargs["share"] else None
        print(f"* Running on public URL: {self.share_url}")

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.syspath_prepend(str(REPO))
    import demo

    assert demo.main([str(exports["gan"]), *flags]) == 0
    assert [k["share"] for k in launched] == [share]
    if share:  # served without blocking inside launch, so that a missing link can be reported; Gradio's lines are shown
        assert launched[0]["prevent_thread_lock"] is True and "https://0123456789abcdef.gradio.live" in capsys.readouterr().out


def test_demo_share_offline_is_one_line(exports: dict[str, Path]) -> None:
    r = subprocess.run([sys.executable, "demo.py", str(exports["gan"]), "--share"], cwd=REPO, env=offline_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == "" and r.stderr == (
        "error: --share needs the network to reach Gradio's share servers, but HF_HUB_OFFLINE=1 is set; drop --share to serve on this machine only\n")


def test_demo_share_without_network_is_one_line_and_no_server_left(exports: dict[str, Path]) -> None:
    from demo_server import free_port

    closed = f"http://127.0.0.1:{free_port()}"  # every outside request goes to a proxy that refuses it: no network
    env = {**offline_env(), "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "ALL_PROXY": closed, "NO_PROXY": "127.0.0.1,localhost"}
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(name, None)
    r = subprocess.run([sys.executable, "demo.py", str(exports["gan"]), "--share", "--port", str(free_port())], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    errors = r.stderr.strip().splitlines()
    assert r.returncode == 2 and r.stdout == "" and len(errors) == 1, r.stdout + r.stderr
    assert errors[0].startswith("error: --share: Could not create share link") and errors[0].endswith("drop --share to serve on this machine only")
