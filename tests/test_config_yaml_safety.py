"""Config YAML that safe_load accepts but a config must not: alias bombs, repeated keys, huge values in messages."""
from __future__ import annotations

import sys

import pytest
import yaml

from conftest import REPO, run_cmd
from gan.config import load_config
from gan.config.safe_yaml import MAX_CONFIG_VALUES, load_yaml
from gan.errors import ConfigError
from gan.generation.config import GANConfig


def alias_bomb(levels: int = 9) -> str:
    """A few hundred bytes that expand to 10**levels list items under the known key ``model.attention``."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines + ["model:", f"  attention: *a{levels - 1}", ""])


def test_alias_bomb_is_refused_before_any_value_is_built(tmp_path, monkeypatch):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert len(path.read_bytes()) < 700
    built: list[object] = []
    monkeypatch.setattr(yaml.SafeLoader, "construct_document", lambda self, node: built.append(node))
    with pytest.raises(ConfigError) as err:
        load_config(GANConfig, path)
    assert str(err.value) == (f"config file '{path}': key 'a3' holds more than {MAX_CONFIG_VALUES} values once YAML aliases "
                              "(*name) are expanded; expected a config of plain keys and values (see configs/)")
    assert built == []  # measured on the node graph: no Python list was built, let alone expanded


def test_alias_bomb_inside_a_known_key_names_that_key():
    nested = "model:\n  attention: [&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], " \
             "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]]\n"
    with pytest.raises(ConfigError, match=r"^key 'model\.attention' holds more than 10000 values once YAML aliases \(\*name\) are expanded;"):
        load_yaml(nested)


def test_alias_bomb_in_an_override_is_refused():
    bomb = "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], " \
           "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], *d, *d]"
    with pytest.raises(ConfigError, match=r"^override 'model\.attention=\[&a .*\.\.\..*': the YAML holds more than 10000 values once YAML aliases"):
        load_config(GANConfig, None, [f"model.attention={bomb}"])


def test_small_aliases_and_merge_keys_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("train: &t\n  steps: &n 7\nmodel:\n  nz: *n\n")
    cfg = load_config(GANConfig, path)
    assert cfg.model.nz == 7 and cfg.train.steps == 7
    assert load_yaml("base: &b {steps: 3, batch_size: 4}\nx:\n  <<: *b\n  steps: 5\n")["x"] == {"steps": 5, "batch_size": 4}


def test_an_alias_of_itself_is_refused():
    with pytest.raises(ConfigError, match=r"^the value at line 2 contains an alias \(\*name\) of itself; expected plain values$"):
        load_yaml("model:\n  attention: &a [*a]\n")


@pytest.mark.parametrize("text, message", [
    ("train:\n  steps: 3\nmodel:\n  nz: 8\n\ntrain:\n  steps: 4\n", "key 'train' appears twice (lines 1 and 6)"),
    ("train:\n  steps: 3\n  batch_size: 4\n  steps: 5\n", "key 'train.steps' appears twice (lines 2 and 4)"),
    ("model: {nz: 8, 'nz': 9}\n", "key 'model.nz' appears twice (line 1)"),
])
def test_repeated_keys_are_refused_with_both_lines(tmp_path, text, message):
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(GANConfig, path)
    assert str(err.value) == f"config file '{path}': {message}"


def test_repeated_key_is_one_line_from_the_command_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("train:\n  steps: 3\n\n\ntrain:\n  steps: 4\n")
    proc = run_cmd([sys.executable, str(REPO / "train_gan.py"), "--config", str(path), "--dry-run"])
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: config file '{path}': key 'train' appears twice (lines 1 and 5)\n"


def test_error_messages_abbreviate_huge_values(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("model:\n  nz: [" + ", ".join(["123456"] * 5000) + "]\ndata:\n  root: " + "x" * 100_000 + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(GANConfig, path)
    assert str(err.value) == f"{path}: config key 'model.nz': got [123456, 123456, 123456, 123456, 123456, 123456, " \
                             "123456, 123456, 123456, 123456, 123456, 123456, ...], expected int"
    with pytest.raises(ConfigError) as err:
        load_config(GANConfig, None, ["train.steps=" + "y" * 100_000])
    assert len(str(err.value)) < 200 and str(err.value).startswith("config key 'train.steps': got 'yyyy")
