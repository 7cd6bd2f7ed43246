"""Model cards through huggingface_hub's ModelCard: parsed back by ModelCard.load (its metadata and model-index
checks, offline), with the Hub task, license, dataset and evaluation results of each kind; the card's Python
snippet runs."""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

sys.path.insert(0, str(Path(__file__).parent))
from tiny_exports import SHAPE_NAMES, write_conditional_hub, write_seg_hub  # noqa: E402

PROTOCOL = {"generated": {"num_images": 64}, "n_real": 100, "resolution": 16, "real": {"dataset": "mnist", "split": "test", "num_images": 100},
            "feature_extractor": {"name": "inception-v3-compat", "weights_sha256": "6726825d" * 8}}
EVALUATION = {"step": 40, "metrics": {"fid": 12.5, "kid": 0.01, "class_accuracy": 0.75}, "protocol": PROTOCOL}


def _card(tmp_path: Path, folder: Path, evaluation: dict | None, data: dict, license_id: str = "mit") -> ModelCard:
    from gan.deploy.card import model_card
    from gan.deploy.source import load_source

    loaded = load_source(folder)
    loaded.meta["config"] = {"data": data}
    model_card(loaded, evaluation, "sample_grid.png", license_id).save(tmp_path / "README.md")
    return ModelCard.load(tmp_path / "README.md")  # raises on metadata (model-index) it cannot parse


def test_a_conditional_card_has_no_pipeline_tag_and_its_evaluation_in_the_model_index(tmp_path: Path) -> None:
    card = _card(tmp_path, write_conditional_hub(tmp_path / "gan"), EVALUATION, {"name": "mnist", "resolution": 16}, "apache-2.0")
    data = card.data
    assert data.pipeline_tag is None and "class-conditional-image-generation" in data.tags and "gan" in data.tags
    assert data.library_name == "gan-toolkit" and data.license == "apache-2.0" and data.datasets == ["ylecun/mnist"]
    assert data.model_name == "DCGAN-style generator (mnist, 16x16)"
    results = {r.metric_type: r for r in data.eval_results}
    assert {k: r.metric_value for k, r in results.items()} == EVALUATION["metrics"]
    fid = results["fid"]
    assert (fid.task_type, fid.dataset_type, fid.dataset_name, fid.dataset_split) == ("class-conditional-image-generation", "ylecun/mnist", "mnist", "test")
    assert fid.metric_args == {"num_generated": 64, "num_real": 100, "resolution": 16, "feature_extractor": "inception-v3-compat",
                               "weights_sha256": "6726825d" * 8, "step": 40}
    assert "Classes: circle, square, triangle." in card.text and '"n_real": 100' in card.text  # the whole protocol in the text


def test_a_segmentation_card_is_image_segmentation_with_its_validation_metrics(tmp_path: Path) -> None:
    from gan.deploy.card import model_card
    from gan.deploy.source import load_source

    loaded = load_source(write_seg_hub(tmp_path / "seg"))
    loaded.meta.update(metrics={"miou": 0.5, "iou": [0.9, 0.1, math.nan, 0.5], "pixel_acc": 0.875, "class_acc": math.nan},
                       config={"data": {"name": "shapes", "split_eval": "val"}})
    model_card(loaded, None, None).save(tmp_path / "README.md")
    data = ModelCard.load(tmp_path / "README.md").data
    assert data.pipeline_tag == "image-segmentation" and data.license == "mit" and data.datasets is None
    assert {(r.task_type, r.dataset_type, r.dataset_split, r.metric_type, r.metric_value) for r in data.eval_results} == {
        ("image-segmentation", "shapes", "val", "miou", 0.5), ("image-segmentation", "shapes", "val", "pixel_acc", 0.875)}  # no NaN, no lists


def test_an_unconditional_card_without_evaluation(tmp_path: Path) -> None:
    from gan.models import Generator

    torch.manual_seed(0)
    Generator(nz=8, resolution=16, ngf=8).eval().save_pretrained(tmp_path / "gan")
    card = _card(tmp_path, tmp_path / "gan", None, {"name": "shapes"})
    assert card.data.pipeline_tag == "unconditional-image-generation" and card.data.eval_results is None
    assert "class-conditional-image-generation" not in card.data.tags and "No evaluation results were found" in card.text


@pytest.mark.parametrize("kind", ["generator", "segmenter"])
def test_the_card_python_snippet_runs(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    folder = write_conditional_hub(tmp_path / "model") if kind == "generator" else write_seg_hub(tmp_path / "model")
    card = _card(tmp_path, folder, None, {"name": "shapes"})
    snippet = re.search(r"```python\n(.*?)```", card.text, re.S).group(1).replace("THIS_MODEL", str(folder))
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (20, 24), (200, 10, 10)).save("image.png")
    scope: dict = {}
    exec(compile(snippet, "card-snippet", "exec"), scope)
    if kind == "generator":
        assert Image.open("samples.png").size == (3 * 18 + 2, 3 * 18 + 2) and f"class 0 ({SHAPE_NAMES[0]})" in snippet
    else:
        assert scope["mask"].shape == (24, 20) and int(scope["mask"].max()) < 4
