"""Class-conditional G (embed, cbn) and D (projection): shapes, hand-computed terms, labels, config, training, transfer."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from PIL import Image
from safetensors.torch import load_file

from conftest import run_cmd
from gan.config import load_config
from gan.errors import CheckpointError, ConfigError
from gan.formats import GENERATOR, load_export, write_export
from gan.generation.config import GANConfig
from gan.generation.sampling import load_generator
from gan.generation.task import GANTask, generator_kwargs
from gan.models import Discriminator, Generator
from gan.models.conditioning import ClassAffine, ConditionalBatchNorm2d
from gan.seg.model import SegmentationModel
from gan.seg.transfer import transfer_from_gan
from test_rel_utils import differing_state_files, metrics, train

# State-dict keys of the unconditional models as they were before conditioning and attention existed
# (32x32: generator stages 4->8->16, discriminator blocks 32->16->8->4).
OLD_G_KEYS = {
    "batch": {
        *(f"decoder.stages.{i}.{k}" for i in (0, 1) for k in ("conv.weight", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked")),
        "head.0.weight", "project.0.weight", "project.1.weight", "project.1.bias", "project.1.running_mean", "project.1.running_var", "project.1.num_batches_tracked",
    },
    "none": {"decoder.stages.0.conv.weight", "decoder.stages.1.conv.weight", "head.0.weight", "project.0.weight"},
}
OLD_D_KEYS = {
    "batch": {
        "blocks.0.conv.bias", "blocks.0.conv.weight", "out.bias", "out.weight",
        *(f"blocks.{i}.{k}" for i in (1, 2) for k in ("conv.weight", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked")),
    },
    "spectral": {*(f"blocks.{i}.conv.{k}" for i in (0, 1, 2) for k in ("bias", "weight_orig", "weight_u", "weight_v")), "out.bias", "out.weight_orig", "out.weight_u", "out.weight_v"},
    "none": {*(f"blocks.{i}.conv.{k}" for i in (0, 1, 2) for k in ("bias", "weight")), "out.bias", "out.weight"},
}


def clearly_differ(a: torch.Tensor, b: torch.Tensor) -> bool:
    """More than 1% of the larger magnitude apart somewhere (fresh DCGAN outputs are tiny in eval mode)."""
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max()) > 0.01 * float(torch.maximum(a.abs().max(), b.abs().max()))


def tiny_g(**kw) -> Generator:
    return Generator(**{**dict(nz=4, channels=3, resolution=32, ngf=4), **kw})


def tiny_d(**kw) -> Discriminator:
    return Discriminator(**{**dict(channels=3, resolution=32, ndf=4), **kw})


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_unconditional_generator_keys_are_unchanged(norm):
    assert set(tiny_g(norm=norm).state_dict()) == OLD_G_KEYS[norm]
    assert set(tiny_g(norm=norm, num_classes=0, cond="none", attention=[]).state_dict()) == OLD_G_KEYS[norm]


@pytest.mark.parametrize("norm", ["batch", "spectral", "none"])
def test_unconditional_discriminator_keys_are_unchanged(norm):
    assert set(tiny_d(norm=norm).state_dict()) == OLD_D_KEYS[norm]
    assert set(tiny_d(norm=norm, num_classes=0, cond="none", attention=()).state_dict()) == OLD_D_KEYS[norm]


@pytest.mark.parametrize("g_cond", ["embed", "cbn"])
@pytest.mark.parametrize("d_cond", ["projection", "none"])
def test_conditional_output_shapes(g_cond, d_cond):
    g, d = tiny_g(channels=1, num_classes=3, cond=g_cond), tiny_d(channels=1, num_classes=3, cond=d_cond)
    c = torch.tensor([0, 2, 1, 2, 0])
    images = g(torch.randn(5, 4), c).detach()
    assert images.shape == (5, 1, 32, 32) and float(images.abs().max()) <= 1
    assert d(images, c).shape == (5,)
    extra = {"embed": {"class_embed.embed.weight"},
             "cbn": {"class_norm.embed.weight"} | {f"class_norm.{p}.{i}.weight" for p in ("gamma", "beta") for i in (0, 1)}}[g_cond]
    assert extra <= set(g.state_dict())


def test_projection_term_equals_the_hand_computation():
    torch.manual_seed(0)
    d = tiny_d(norm="none", num_classes=3, cond="projection").eval()
    plain = tiny_d(norm="none", num_classes=3, cond="none").eval()
    plain.load_state_dict({k: v for k, v in d.state_dict().items() if not k.startswith("projection.")})
    embed = torch.arange(3 * 16, dtype=torch.float32).view(3, 16) / 50 - 0.4  # 16 = channels of the last block
    d.projection.embed.weight.data.copy_(embed)
    d.requires_grad_(False)
    plain.requires_grad_(False)
    x, c = torch.randn(4, 3, 32, 32), torch.tensor([2, 0, 1, 2])
    h = d.features(x)[-1]  # (4, 16, 4, 4)
    for i in range(4):
        out = float((d.out.weight[0] * h[i]).sum() + d.out.bias[0])
        proj = sum(float(embed[int(c[i]), k]) * float(h[i, k].sum()) for k in range(16))
        assert float(d(x, c)[i]) == pytest.approx(out + proj, rel=1e-4, abs=1e-4)
        assert float(plain(x, c)[i]) == pytest.approx(out, rel=1e-5, abs=1e-5)  # d_cond=none: labels checked, not used


def test_projection_embedding_is_spectrally_normalised_with_spectral_d():
    torch.manual_seed(0)
    d = tiny_d(norm="spectral", num_classes=5, cond="projection")
    assert {"projection.embed.weight_orig", "projection.embed.weight_u", "projection.embed.weight_v"} <= set(d.state_dict())
    x, c = torch.randn(2, 3, 32, 32), torch.tensor([0, 4])
    for _ in range(30):  # one power iteration per training-mode call
        d(x, c)
    assert float(torch.linalg.matrix_norm(d.projection.embed.weight.detach(), ord=2)) == pytest.approx(1.0, abs=1e-3)


def test_cbn_gamma_and_beta_come_from_the_class_embedding():
    torch.manual_seed(0)
    g = tiny_g(num_classes=2, cond="cbn").eval()
    affine = g.class_norm
    assert affine.embed.weight.shape == (2, 128) and affine.gamma[0].weight.shape == (8, 128)  # 8 = channels of stage 0
    assert float(affine.gamma[0].weight.detach().std()) == pytest.approx(0.02, rel=0.1)  # the generator's init: gamma near 1, beta near 0
    z = torch.randn(1, 4).repeat(2, 1)
    c = torch.tensor([0, 1])
    with torch.no_grad():
        for lin in [*affine.gamma, *affine.beta]:
            lin.weight.zero_()
    out = g(z, c)
    assert torch.equal(out[0], out[1])  # zero maps: gamma 1, beta 0 for every class, identical images
    with torch.no_grad():
        for lin in [*affine.gamma, *affine.beta]:
            lin.weight.normal_(0, 0.05)
    seen = {}
    g.decoder.stages[0].norm.register_forward_hook(lambda m, args, y: seen.update(x=args[0], y=y.clone()))  # before the in-place ReLU
    out = g(z, c)
    assert clearly_differ(out[0], out[1])  # same z, different class
    norm = g.decoder.stages[0].norm
    assert isinstance(norm, ConditionalBatchNorm2d)
    normed = F.batch_norm(seen["x"], norm.running_mean, norm.running_var, eps=norm.eps)
    e = affine.embed.weight[c]  # (2, 128)
    gamma, beta = 1 + e @ affine.gamma[0].weight.T, e @ affine.beta[0].weight.T
    assert torch.allclose(seen["y"], normed * gamma[:, :, None, None] + beta[:, :, None, None], atol=1e-5)
    with torch.no_grad():
        affine.embed.weight[1] = affine.embed.weight[0]
    out = g(z, c)
    assert torch.equal(out[0], out[1])


def test_embed_multiplies_the_latent_by_a_class_embedding():
    torch.manual_seed(0)
    g = tiny_g(num_classes=2, cond="embed").eval()
    assert g.project[0].in_channels == 4  # nz: the product has the latent's size
    z, c = torch.randn(1, 4).repeat(2, 1), torch.tensor([0, 1])
    out = g(z, c).detach()
    assert clearly_differ(out[0], out[1])
    with torch.no_grad():
        g.class_embed.embed.weight[1] = g.class_embed.embed.weight[0]
    out = g(z, c)
    assert torch.equal(out[0], out[1])
    with torch.no_grad():
        g.class_embed.embed.weight[1] = -g.class_embed.embed.weight[0]
    assert torch.equal(g(z, c)[1], g(-z[:1], c[:1])[0])  # z * e(1) = (-z) * e(0): the class acts only through z


def test_embed_gives_no_path_that_ignores_the_latent():
    """What a concatenated embedding allowed (we measured G ignoring z): with z = 0 the class cannot reach G at all."""
    torch.manual_seed(0)
    g = tiny_g(num_classes=3, cond="embed").eval()
    out = g(torch.zeros(3, 4), torch.tensor([0, 1, 2])).detach()
    assert torch.equal(out, out[:1].expand_as(out))


def test_labels_are_checked():
    g, d = tiny_g(num_classes=3, cond="embed"), tiny_d(num_classes=3, cond="projection")
    z, x = torch.randn(2, 4), torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"^Generator is conditional on 3 classes: pass c, a LongTensor \(2,\) of class indices in 0..2$"):
        g(z)
    with pytest.raises(ValueError, match=r"^Discriminator expects c, a LongTensor \(2,\) of class indices in 0..2, got labels 1..3$"):
        d(x, torch.tensor([1, 3]))
    with pytest.raises(ValueError, match=r"got torch.int64 of shape \(3,\)"):
        g(z, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"got torch.float32 of shape \(2,\)"):
        d(x, torch.zeros(2))
    with pytest.raises(ValueError, match=r"^Generator is unconditional \(num_classes=0\) but got class labels c; call it without c$"):
        tiny_g()(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"Discriminator is unconditional"):
        tiny_d()(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"Generator cond='cbn' needs num_classes >= 1, got 0"):
        tiny_g(cond="cbn")
    with pytest.raises(ValueError, match=r"Discriminator cond 'embed' is not one of none, projection"):
        tiny_d(num_classes=2, cond="embed")
    with pytest.raises(ValueError, match=r"needs norm='batch'"):
        tiny_g(num_classes=2, cond="cbn", norm="none")


# ---- config -----------------------------------------------------------------------------------


def png(path: Path, rgb: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), rgb).save(path)


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory) -> Path:
    """3 classes x 8 images of 16x16: red-ish, green-ish, blue-ish (24 images = 3 batches of 8)."""
    root = tmp_path_factory.mktemp("labelled") / "images"
    for k, name in enumerate(["a", "b", "c"]):
        for i in range(8):
            rgb = [30 * i, 30 * i, 30 * i]
            rgb[k] = 255
            png(root / name / f"{i}.png", tuple(rgb))
    return root


def cond_overrides(root: Path, *extra: str) -> list[str]:
    return ["data.name=image_folder", f"data.root={root}", "data.labels=folders", "data.resolution=16", "data.cache=none", *extra]


def test_config_errors_are_one_line(labelled_folder, tmp_path):
    with pytest.raises(ConfigError, match=r"^config key 'model.g_cond': got 'film', expected one of 'embed', 'cbn'$"):
        load_config(GANConfig, None, ["model.g_cond=film"])
    with pytest.raises(ConfigError, match=r"^config key 'model.num_classes': got 'ten', expected 'auto' or int$"):
        load_config(GANConfig, None, ["model.num_classes=ten"])
    with pytest.raises(ConfigError, match=r"^config key 'model.g_cond': got 'cbn', expected 'embed' with model.g_norm=none"):
        load_config(GANConfig, None, ["model.num_classes=3", "model.g_cond=cbn", "model.g_norm=none"])
    load_config(GANConfig, None, ["model.g_cond=cbn", "model.g_norm=none"])  # ignored when num_classes is 0
    small = ["model.nz=4", "model.ngf=4", "model.ndf=4", "train.batch_size=4", "log.tracker=none", f"out_dir={tmp_path}"]
    for overrides, message in [
        (["data.name=shapes", "data.shapes_size=8", "data.resolution=16", "model.num_classes=auto"],
         "config key 'model.num_classes': got 'auto', but data.name=shapes has no class labels; set data.labels=folders "
         "(data.name=image_folder, one subfolder per class) or use a labelled torchvision dataset (mnist, fashion_mnist, cifar10, lsun)"),
        (["data.name=image_folder", f"data.root={labelled_folder}", "data.resolution=16", "model.num_classes=3"],
         "config key 'model.num_classes': got 3, but data.name=image_folder with data.labels=none has no class labels"),
        (cond_overrides(labelled_folder, "model.num_classes=5"), "config key 'model.num_classes': got 5, but the dataset has 3 classes; set it to 3 or auto"),
    ]:
        with pytest.raises(ConfigError) as err:
            GANTask(load_config(GANConfig, None, overrides + small), Accelerator(cpu=True))
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("classes", ["auto", "3"])
def test_task_builds_conditional_models_and_a_grid_row_per_class(labelled_folder, tmp_path, classes):
    cfg = load_config(GANConfig, None, cond_overrides(labelled_folder, f"model.num_classes={classes}", "model.nz=4", "model.ngf=4", "model.ndf=4",
                                                      "train.batch_size=8", "log.tracker=none", "log.num_samples=7", f"out_dir={tmp_path}"))
    task = GANTask(cfg, Accelerator(cpu=True))
    assert task.num_classes == 3 and task.gan_step.c_dim == 3
    assert task.g_raw.num_classes == 3 and task.g_raw.cond == "embed" and task.d_raw.cond == "projection"
    grid = Image.open(task.sample_grid(0))
    assert grid.size == (2 * 18 + 2, 3 * 18 + 2)  # 3 class rows of 7 // 3 = 2 samples, 16 px + 2 px padding
    task.write_export(tmp_path / "export", 0)
    meta = json.loads((tmp_path / "export" / "generator.json").read_text())
    assert meta["model"]["num_classes"] == 3 and meta["model"]["cond"] == "embed" and meta["discriminator"]["cond"] == "projection"
    assert meta["label_names"] == ["a", "b", "c"] and meta["config"]["model"]["num_classes"] == (classes if classes == "auto" else 3)  # a count is stored as a number


def test_export_reader_accepts_zero_classes_and_refuses_negative(tmp_path):
    cfg = load_config(GANConfig, None, ["data.resolution=16", "model.nz=4", "model.ngf=4"])
    model = Generator(**generator_kwargs(cfg))
    write_export(tmp_path, GENERATOR, model.state_dict(), {"model": generator_kwargs(cfg)})
    assert load_export(tmp_path, GENERATOR, Generator)[1]["model"]["num_classes"] == 0
    write_export(tmp_path, GENERATOR, model.state_dict(), {"model": {**generator_kwargs(cfg), "num_classes": -1}})
    with pytest.raises(CheckpointError, match=r"model.num_classes=-1 is not an integer in 0..100000; refusing to build it"):
        load_export(tmp_path, GENERATOR, Generator)


# ---- training ---------------------------------------------------------------------------------


def test_label_sampling_resumes_exactly(labelled_folder, tmp_path):
    args = [*cond_overrides(labelled_folder, "model.num_classes=auto", "model.g_cond=cbn"), "checkpoint.every=2"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(straight, *args, "train.steps=4") == 0
    shutil.copytree(straight / "checkpoints" / "checkpoint-2", resumed / "checkpoints" / "checkpoint-2")
    (resumed / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics(straight)[:2]))
    assert train(resumed, *args, "train.steps=4", "resume=latest") == 0
    final = "checkpoints/checkpoint-4"
    assert differing_state_files(straight / final, resumed / final) == []  # G (with class gamma/beta), D (projection), EMA, Adam, RNGs
    assert metrics(resumed) == metrics(straight)
    model, meta = load_generator(straight)
    assert meta["model"]["cond"] == "cbn"
    early = load_file(straight / "checkpoints" / "checkpoint-2" / "generator.safetensors")  # the EMA generator at step 2
    assert not torch.equal(model.class_norm.gamma[0].weight, early["class_norm.gamma.0.weight"])  # the class maps trained


def test_train_gan_cli_conditional_run_exports_a_rebuildable_generator(labelled_folder, tmp_path, python):
    out = tmp_path / "run"
    res = run_cmd([python, "train_gan.py", "--config", "tests/defaults.yaml", *cond_overrides(labelled_folder, "model.num_classes=auto", "model.g_cond=cbn", "model.attention=[8]"),
                   "model.nz=8", "model.ngf=8", "model.ndf=8", "train.batch_size=8", "train.steps=2", "log.tracker=none",
                   "log.sample_every=2", "log.num_samples=6", "checkpoint.every=2", f"out_dir={out}"])
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((out / "export" / "generator.json").read_text())
    assert meta["model"]["num_classes"] == 3 and meta["model"]["attention"] == [8] and meta["label_names"] == ["a", "b", "c"]
    assert meta["config"]["model"]["num_classes"] == "auto"
    model, _ = load_generator(out)
    assert model.num_classes == 3 and model.decoder.stages[0].extra.gamma.shape == ()
    assert model(torch.randn(3, 8), torch.tensor([0, 1, 2])).shape == (3, 3, 16, 16)
    assert Image.open(out / "samples" / "latest.png").size == (2 * 18 + 2, 3 * 18 + 2)  # one row per class


# ---- transfer to the segmentation decoder --------------------------------------------------------


@pytest.mark.parametrize("g_cond", ["embed", "cbn"])
def test_conditional_generator_decoder_transfers_to_segmentation(tmp_path, g_cond):
    torch.manual_seed(0)
    gen = Generator(nz=8, channels=3, resolution=16, ngf=8, max_channels=32, num_classes=3, cond=g_cond)
    with torch.no_grad():
        for _ in range(2):  # BatchNorm statistics away from (0, 1)
            gen(torch.randn(8, 8) * 2, torch.randint(3, (8,)))
    write_export(tmp_path, GENERATOR, gen.state_dict(), {"model": {"nz": 8, "num_classes": 3, "cond": g_cond}})
    seg = SegmentationModel(num_classes=4, channels=3, resolution=32, ngf=8, ndf=8, max_channels=32, fusion="add")
    before = {k: v.clone() for k, v in seg.state_dict().items()}
    report = transfer_from_gan(seg, tmp_path)
    state, theirs = seg.state_dict(), gen.state_dict()
    copied = ["conv.weight", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked"]
    own_affine = ["norm.weight", "norm.bias"]
    for name in copied + (own_affine if g_cond == "embed" else []):  # G's only stage -> the segmentation decoder's last
        assert torch.equal(state[f"decoder.stages.1.{name}"], theirs[f"decoder.stages.0.{name}"]), name
    assert not torch.equal(state["decoder.stages.1.conv.weight"], before["decoder.stages.1.conv.weight"])
    if g_cond == "cbn":  # the class gamma/beta have no counterpart: the segmentation norm keeps its own affine
        assert all(torch.equal(state[f"decoder.stages.1.{n}"], before[f"decoder.stages.1.{n}"]) for n in own_affine)
        assert isinstance(gen.class_norm, ClassAffine)
    skipped = {k for k, _ in report.skipped}
    assert ("generator:class_norm.gamma.0.weight" in skipped) == (g_cond == "cbn")
    assert ("generator:class_embed.embed.weight" in skipped) == (g_cond == "embed")
    assert report.loaded_keys == {f"decoder.stages.1.{n}" for n in copied + (own_affine if g_cond == "embed" else [])}
