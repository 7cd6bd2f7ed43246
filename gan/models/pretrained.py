"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for the toolkit's models, through Hugging Face's
``PyTorchModelHubMixin``, in the toolkit's hub folder format.

A folder that ``save_pretrained`` writes is the one ``export.py --format hub`` writes
(:func:`gan.formats.hub_config`): ``config.json`` with the constructor arguments at its top level
(what the mixin reads), the kind and the rest of the export JSON (step, training config, class names);
``model.safetensors``; a ``README.md`` model card. ``from_pretrained`` takes such a folder (or one in the
older layout), a run, export or checkpoint folder, or a Hub repo id (``user/name``, ``user/name@revision``),
resolved by :func:`gan.formats.resolve.resolve_source`.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

from huggingface_hub import ModelCard, PyTorchModelHubMixin

from ..formats.resolve import resolve_source
from ..errors import CheckpointError
from ..formats import HUB, ExportKind, hub_config, kind_name, load_export, save_safetensors_atomic
from ..names import EXPORT_LICENSE, HUB_LIBRARY, HUB_TAGS

# The card of a model saved or pushed from Python (export.py writes a fuller one: gan.deploy.card).
CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ model_class }} (gan-toolkit)

A gan-toolkit `{{ model_class }}` saved with `save_pretrained`: `config.json` holds its constructor
arguments, `model.safetensors` its weights. With gan-toolkit installed:

```python
from {{ module }} import {{ model_class }}

model = {{ model_class }}.from_pretrained("{{ source | default('USER/REPO', true) }}")  # a Hub repo id or a folder
```
"""


class HubModel(PyTorchModelHubMixin, library_name=HUB_LIBRARY, license=EXPORT_LICENSE, tags=list(HUB_TAGS),
               model_card_template=CARD_TEMPLATE):
    """The mixin for :class:`~gan.models.Generator` and :class:`~gan.seg.model.SegmentationModel`.

    Attributes:
        init_args: the constructor arguments the model was built with.
        export_meta: what the model was loaded with besides them (``step``, ``config``, ``label_names`` or
            ``class_names``, ...); empty for a model built in Python. ``save_pretrained`` records it.
    """

    export_kind: ClassVar[ExportKind]  # the export this class is loaded from (GENERATOR, SEGMENTER)
    import_from: ClassVar[str]  # the module users import the class from, for the card's snippet
    init_args: dict[str, Any]
    export_meta: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> "HubModel":
        instance = super().__new__(cls, *args, **kwargs)
        # bind_partial: copy.deepcopy calls __new__ without arguments, then restores the attributes set here
        bound = inspect.signature(cls.__init__).bind_partial(instance, *args, **kwargs)
        bound.apply_defaults()
        instance.init_args = dict(list(bound.arguments.items())[1:])  # without self
        instance.export_meta = {}
        return instance

    def hub_task(self) -> tuple[str | None, list[str]]:
        """The card's ``pipeline_tag`` (None: no Hub task fits) and the tags this model adds."""
        raise NotImplementedError

    def hub_meta(self) -> dict[str, Any]:
        """The export JSON of this model: what it was loaded with, and its constructor arguments as ``model``."""
        return {**self.export_meta, "model": dict(self.init_args)}

    def save_pretrained(self, save_directory: str | Path, *, config: dict | None = None, **kwargs: Any) -> str | None:
        """``PyTorchModelHubMixin.save_pretrained``; ``config`` defaults to the hub folder's ``config.json`` of :meth:`hub_meta`."""
        if config is None:
            config = hub_config(kind_name(self.export_kind), self.hub_meta())
        return super().save_pretrained(save_directory, config=config, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        """The weights as ``model.safetensors``, written atomically (a full disk is a one-line error)."""
        save_safetensors_atomic(self.state_dict(), Path(save_directory) / HUB.weights)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, revision: str | None = None, cache_dir: str | Path | None = None,
                        force_download: bool = False, token: str | bool | None = None, local_files_only: bool = False, **model_kwargs: Any) -> Any:
        """The model of a hub folder, a run/export/checkpoint folder or a Hub repo id (``user/name[@revision]``), in eval mode.

        The keyword arguments are the mixin's: ``map_location`` (default ``cpu``) and the download options.
        Constructor arguments, if given, must be those of the saved model.
        """
        folder = resolve_source(pretrained_model_name_or_path, revision=revision, cache_dir=cache_dir, force_download=force_download,
                                local_files_only=local_files_only, token=token)
        if (folder / HUB.meta).is_file():  # the mixin reads config.json, then calls _from_pretrained
            return super().from_pretrained(folder, local_files_only=True, **model_kwargs)
        return cls._from_pretrained(model_id=str(folder), revision=None, cache_dir=None, force_download=False, local_files_only=True,
                                    token=None, **model_kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | Path | None, force_download: bool,
                         local_files_only: bool, token: str | bool | None, map_location: str = "cpu", **model_kwargs: Any) -> Any:
        """Load the local folder ``model_id`` with the toolkit's checked reader (argument limits, exact weight keys)."""
        model, meta = load_export(model_id, cls.export_kind, cls, device=map_location)
        saved = meta["model"]
        differ = [k for k, v in model_kwargs.items() if k not in saved or json.dumps(saved[k]) != json.dumps(v)]
        if differ:
            raise CheckpointError(f"'{model_id}': from_pretrained got {', '.join(f'{k}={model_kwargs[k]!r}' for k in differ)}, "
                                  f"but the saved model was built with {', '.join(f'{k}={saved.get(k)!r}' for k in differ)}")
        model.export_meta = {k: v for k, v in meta.items() if k != "model"}
        return model

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The mixin's card with this model's Hub task: ``pipeline_tag`` and tags (see :meth:`hub_task`)."""
        kwargs = {"model_class": type(self).__name__, "module": self.import_from, **kwargs}
        card = super().generate_model_card(*args, **kwargs)
        card.data.pipeline_tag, tags = self.hub_task()
        card.data.tags = sorted({*(card.data.tags or []), *tags})
        return card
