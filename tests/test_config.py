"""Config schema: YAML + dotted overrides, type checks and one-line errors."""
from __future__ import annotations

import pytest

from gan.config import from_dict, load_config, parse_override, to_dict
from gan.errors import ConfigError
from gan.generation.config import GANConfig


def write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_yaml_then_overrides_are_applied_and_typed(tmp_path):
    path = write(tmp_path, "train:\n  steps: 10\n  batch_size: 4\noptim:\n  g_lr: 1e-4\n")
    cfg = load_config(GANConfig, path, ["train.steps=200", "model.ngf=32", "data.download=true", "eval.metrics=fid,kid"])
    assert cfg.train.steps == 200 and cfg.train.batch_size == 4
    assert cfg.optim.g_lr == pytest.approx(1e-4) and isinstance(cfg.optim.g_lr, float)  # YAML 1.1 reads 1e-4 as str
    assert cfg.model.ngf == 32 and cfg.data.download is True
    assert cfg.eval.metrics == ["fid", "kid"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stepz=3", "unknown config key 'train.stepz' (did you mean 'train.steps'?)"),
        ("train.steps=abc", "config key 'train.steps': got 'abc', expected int"),
        ("loss.type=foo", "config key 'loss.type': got 'foo', expected one of 'nonsaturating', 'hinge', 'wgan_gp', 'lsgan'"),
        ("train.mixed_precision=fp8", "config key 'train.mixed_precision': got 'fp8', expected one of 'auto', 'no', 'fp16', 'bf16'"),
        ("checkpoint.keep=1", "config key 'checkpoint.keep': got 1, expected >= 2"),
        ("data.resolution=4", "config key 'data.resolution': got 4, expected 8..256"),
        ("train.steps.x=1", "config key 'train.steps' is a int, it has no sub-key"),
        ("trainsteps", "is not of the form key=value"),
        ("data.download=maybe", "config key 'data.download': got 'maybe', expected bool"),
    ],
)
def test_bad_overrides_raise_one_line(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(GANConfig, None, [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_yaml_errors_name_the_file(tmp_path):
    path = write(tmp_path, "model:\n  ngff: 3\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown config key 'model.ngff' \(did you mean 'model.ngf'\?\)"):
        load_config(GANConfig, path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(GANConfig, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(GANConfig, write(tmp_path, "- a\n- b\n"))


def test_yaml_cannot_construct_python_objects(tmp_path):
    path = write(tmp_path, "out_dir: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(GANConfig, path)


def test_round_trip_through_dict():
    cfg = load_config(GANConfig, None, ["model.upsample=pixel_shuffle", "eval.metrics=[fid, isc]"])
    again = from_dict(GANConfig, to_dict(cfg))
    assert again == cfg


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a=[1, 2]") == ("a", [1, 2])
    assert parse_override("a=") == ("a", "")


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    gan_configs = [c for c in configs if not c.name.startswith("seg_")]
    assert {"quickstart.yaml", "dcgan_mnist.yaml", "dcgan_cifar10.yaml", "dcgan_celeba64.yaml", "image_folder.yaml"} <= {c.name for c in gan_configs}
    for path in gan_configs:
        cfg = load_config(GANConfig, path)
        assert cfg.train.steps >= 1


def test_unquoted_no_is_the_choice_no_not_false():
    # YAML 1.1 reads `no` as False; for a choice that includes "no" the user meant the word.
    assert load_config(GANConfig, None, ["train.mixed_precision=no"]).train.mixed_precision == "no"
    with pytest.raises(ConfigError, match="train.on_nonfinite': got False"):
        load_config(GANConfig, None, ["train.on_nonfinite=no"])


@pytest.mark.parametrize("overrides, stored", [
    ([], {"num_classes": 0, "cpu_threads": "auto"}),
    (["model.num_classes=3", "train.cpu_threads=2"], {"num_classes": 3, "cpu_threads": 2}),
    (["model.num_classes=auto", "train.cpu_threads='4'"], {"num_classes": "auto", "cpu_threads": 4}),
])
def test_counts_are_stored_as_numbers_and_the_written_config_loads_back_the_same(tmp_path, overrides, stored):
    """config.yaml stored num_classes: '0' (a str field holding 'auto' or a count)."""
    import yaml

    from gan.config import to_yaml

    cfg = load_config(GANConfig, None, overrides)
    written = write(tmp_path, to_yaml(cfg))  # what the run directory's config.yaml holds
    data = yaml.safe_load(written.read_text())
    assert {"num_classes": data["model"]["num_classes"], "cpu_threads": data["train"]["cpu_threads"]} == stored
    assert f"num_classes: {stored['num_classes']}\n" in written.read_text()
    assert load_config(GANConfig, written) == cfg


def test_a_count_or_auto_setting_rejects_other_words_in_one_line():
    with pytest.raises(ConfigError, match=r"^config key 'model.num_classes': got 'many', expected 'auto' or int$"):
        load_config(GANConfig, None, ["model.num_classes=many"])
    with pytest.raises(ConfigError, match=r"^config key 'model.num_classes': got -1, expected 'auto' or an integer in 0..100000$"):
        load_config(GANConfig, None, ["model.num_classes=-1"])


def test_an_older_checkpoint_s_quoted_count_equals_today_s_number():
    """A resume compares configs: the '0' an older version stored must not count as a changed setting."""
    from gan.config import typed_dict
    from gan.engine.trainer import config_differences

    old = to_dict(load_config(GANConfig))
    old["model"]["num_classes"], old["train"]["cpu_threads"], old["model"]["gone"] = "0", "auto", "kept"
    assert config_differences(typed_dict(GANConfig, old), to_dict(load_config(GANConfig))) == ["model.gone"]
    assert config_differences(old, to_dict(load_config(GANConfig))) == ["model.gone", "model.num_classes"]


def test_a_resume_accepts_an_older_checkpoint_s_quoted_class_count(capsys):
    from types import SimpleNamespace

    from gan.engine.trainer import Trainer, TrainerSettings

    old = to_dict(load_config(GANConfig, None, ["model.num_classes=3"]))
    old["model"]["num_classes"] = "3"  # as config.yaml and checkpoints stored it before
    settings = TrainerSettings.of(load_config(GANConfig, None, ["model.num_classes=3"]))
    trainer = SimpleNamespace(settings=settings, accelerator=SimpleNamespace(is_main_process=True))
    Trainer.check_config(trainer, old)  # raised "cannot resume: the config differs from the checkpoint's in model.num_classes"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("override, hint", [
    ("steps=100", "unknown config key 'steps' (did you mean 'train.steps'?)"),
    ("num_classes=3", "unknown config key 'num_classes' (did you mean 'model.num_classes'?)"),
    ("model.g_lr=0.1", "unknown config key 'model.g_lr' (did you mean 'optim.g_lr'?)"),
    ("every=5", "unknown config key 'every' (did you mean 'log.every', 'checkpoint.every' or 'eval.every'?)"),
    ("lr=0.1", "unknown config key 'lr' (did you mean 'optim.g_lr' or 'optim.d_lr'?)"),
    ("train.stepz=3", "unknown config key 'train.stepz' (did you mean 'train.steps'?)"),
    ("foo=1", "unknown config key 'foo'; known keys: out_dir, resume, overwrite, data, model,"),
])
def test_an_unknown_key_suggests_the_dotted_keys_it_probably_meant(override, hint):
    with pytest.raises(ConfigError) as err:
        load_config(GANConfig, None, [override])
    assert str(err.value).startswith(hint) and "\n" not in str(err.value)


def test_a_yaml_key_without_its_section_is_suggested_with_it(tmp_path):
    with pytest.raises(ConfigError, match=r"^.*c.yaml: unknown config key 'batch_size' \(did you mean 'train.batch_size' or 'eval.batch_size'\?\)$"):
        load_config(GANConfig, write(tmp_path, "batch_size: 8\n"))
