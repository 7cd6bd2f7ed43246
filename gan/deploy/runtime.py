"""ONNX and TorchScript exports, each verified on the spot against the eval-mode PyTorch model.

The exported graph is that of :func:`gan.deploy.fold.inference_copy` (spectral norm and BatchNorm
folded) with a dynamic batch axis; the export JSON travels inside the file (ONNX ``metadata_props``,
a TorchScript extra file, both under :data:`gan.formats.RUNTIME_META_KEY`). Verification
runs onnxruntime (or the reloaded TorchScript module) on fixed inputs of another batch size than the
one traced and compares with the *original* model; a difference above ``atol`` is an error.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import ExportError, first_line
from ..formats import RUNTIME_META_KEY, RUNTIME_SUFFIXES, replace_folder, runtime_file, write_export
from ..names import EXPORT_ATOL
from .fold import inference_copy
from .source import KINDS, LABEL_INPUT, OUTPUT_NAMES, Loaded, example_inputs, optional_extra

RUNTIME_FORMATS = tuple(RUNTIME_SUFFIXES)  # onnx, torchscript
DEFAULT_ATOL = EXPORT_ATOL  # the one definition is torch-free: export.py's --help imports no torch
TRACE_BATCH, CHECK_BATCH = 2, 3  # traced with one batch size, checked with another: the batch axis is dynamic


@contextmanager
def _quiet() -> Iterator[None]:
    """Tracing warns about Python shape checks (constant for a fixed image size) and that TorchScript
    is deprecated (still supported in torch 2.14); the verification is what tells whether a graph is right."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def export_meta(loaded: Loaded, fmt: str, size: tuple[int, int] | None, inputs: dict[str, torch.Tensor], folded: dict[str, int]) -> dict[str, Any]:
    """The export JSON plus the runtime graph's interface (input names, shapes, output name)."""
    shapes = {k: ["batch", *v.shape[1:]] for k, v in inputs.items()}
    return {**loaded.meta, "kind": loaded.kind, "format": fmt, "inputs": shapes, "output": OUTPUT_NAMES[loaded.kind],
            "image_size": list(size) if size else None, "folded": folded}


def save_onnx(model: nn.Module, inputs: dict[str, torch.Tensor], output: str, path: Path, meta: dict[str, Any], dynamo: bool = False) -> None:
    """Write ``model`` as ONNX with a dynamic batch axis and ``meta`` in its metadata (atomically).

    ``dynamo=False`` uses the TorchScript-based exporter: faster (``docs/benchmarks.md``, "Figures behind
    choices in the code") and needs only ``onnx``;
    ``dynamo=True`` the torch.export-based one (also needs ``onnxscript``). Both are verified alike.
    """
    with optional_extra("onnx", "export"):
        import onnx
    tmp = path.with_name(".tmp-" + path.name)
    names = list(inputs)
    try:
        with _quiet():
            if dynamo:
                with optional_extra("onnxscript", "export"):
                    import onnxscript  # noqa: F401  (the dynamo exporter needs it)
                batch = torch.export.Dim("batch")
                torch.onnx.export(model, tuple(inputs.values()), str(tmp), input_names=names, output_names=[output], dynamo=True,
                                  dynamic_shapes={n: {0: batch} for n in names}, external_data=False)
            else:
                axes = {n: {0: "batch"} for n in names + [output]}
                torch.onnx.export(model, tuple(inputs.values()), str(tmp), input_names=names, output_names=[output], dynamo=False, dynamic_axes=axes)
    except ExportError:
        raise
    except Exception as err:  # exporters raise many types; the user needs the first line, not a trace
        tmp.unlink(missing_ok=True)
        raise ExportError(f"ONNX export of the {meta['kind']} failed: {first_line(err)}") from None
    proto = onnx.load(str(tmp))
    onnx.helper.set_model_props(proto, {RUNTIME_META_KEY: json.dumps(meta)})
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)


def run_onnx(path: Path, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    """Outputs of the ONNX file at ``path`` under onnxruntime on the CPU."""
    with optional_extra("onnxruntime", "export"):
        import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


def read_onnx_meta(path: Path) -> dict[str, Any]:
    """The export JSON stored in an ONNX file."""
    with optional_extra("onnx", "export"):
        import onnx
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    if RUNTIME_META_KEY not in props:
        raise ExportError(f"'{path}' has no {RUNTIME_META_KEY} metadata: not written by export.py")
    return json.loads(props[RUNTIME_META_KEY])


def save_torchscript(model: nn.Module, inputs: dict[str, torch.Tensor], path: Path, meta: dict[str, Any]) -> None:
    """Trace ``model`` (shapes other than the batch size are fixed) and save it with ``meta`` (atomically)."""
    tmp = path.with_name(".tmp-" + path.name)
    with _quiet():
        traced = torch.jit.trace(model, tuple(inputs.values()), check_trace=False)
        torch.jit.save(traced, str(tmp), _extra_files={RUNTIME_META_KEY: json.dumps(meta)})
    os.replace(tmp, path)


def run_torchscript(path: Path, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    """Outputs of the TorchScript file at ``path`` (loaded fresh, on the CPU)."""
    with _quiet():  # torch.jit.load warns that TorchScript is deprecated
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return module(*inputs.values()).numpy()


def read_torchscript_meta(path: Path) -> dict[str, Any]:
    """The export JSON stored in a TorchScript file."""
    extra = {RUNTIME_META_KEY: ""}
    with _quiet():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[RUNTIME_META_KEY])


RUNNERS = {"onnx": run_onnx, "torchscript": run_torchscript}


def check_outputs(fmt: str, path: Path, got: np.ndarray, expected: torch.Tensor, atol: float) -> float:
    """Max abs difference of a runtime's output from PyTorch's; above ``atol`` (or a shape change) is an error."""
    if tuple(got.shape) != tuple(expected.shape):
        raise ExportError(f"{fmt} export '{path}' returned shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}")
    diff = float(np.abs(got.astype(np.float64) - expected.double().numpy()).max())
    if not diff <= atol:  # also catches NaN
        raise ExportError(f"{fmt} export '{path}' differs from PyTorch by {diff:.3g} (max abs) > tolerance {atol:g}; nothing was written")
    return diff


def export_runtime(loaded: Loaded, fmt: str, out_dir: Path, size: tuple[int, int] | None = None, atol: float = DEFAULT_ATOL,
                   dynamo: bool = False) -> tuple[Path, float]:
    """Write ``loaded``'s model as ``fmt`` into ``out_dir`` and verify it; returns ``(file, max abs difference)``.

    The file is written and verified in a temporary sibling folder, then swapped in: a file that fails
    verification is never left behind, and a previous export in ``out_dir`` stays as it was.
    """
    if fmt not in RUNTIME_FORMATS:
        raise ExportError(f"--format {fmt!r}: expected one of {', '.join(RUNTIME_FORMATS)}")
    if size is not None and loaded.kind != "segmenter":
        raise ExportError(f"--size {size[0]}x{size[1]}: only a segmenter takes images; a {loaded.kind} has a fixed output size")
    if fmt == "onnx":  # before any work: a missing extra is reported first
        with optional_extra("onnx", "export"):
            import onnx  # noqa: F401
        with optional_extra("onnxruntime", "export"):
            import onnxruntime  # noqa: F401
    folded_model, folded = inference_copy(loaded.model)
    traced_inputs = example_inputs(loaded, TRACE_BATCH, size)
    meta = export_meta(loaded, fmt, size, traced_inputs, folded)
    name = runtime_file(KINDS[loaded.kind], fmt)
    check = example_inputs(loaded, CHECK_BATCH, size, seed=1000)
    with torch.no_grad():
        expected = loaded.model(*check.values()).float()
    diff = 0.0

    def fill(tmp: Path) -> None:  # written and verified in a temporary folder: a failure leaves out_dir as it was
        nonlocal diff
        if fmt == "onnx":
            save_onnx(folded_model, traced_inputs, OUTPUT_NAMES[loaded.kind], tmp / name, meta, dynamo)
        else:
            save_torchscript(folded_model, traced_inputs, tmp / name, meta)
        diff = check_outputs(fmt, out_dir / name, RUNNERS[fmt](tmp / name, check), expected, atol)

    replace_folder(out_dir, fill, replaced={name})
    return out_dir / name, diff


def verify_reload(loaded: Loaded, folder: Path, shown: Path | None = None) -> float:
    """Reload the export written into ``folder`` and check it computes exactly what ``loaded`` does (0.0).

    ``shown``: the path named in an error (the final place of a folder still being written).
    """
    from .source import load_source

    inputs = example_inputs(loaded, CHECK_BATCH)
    with torch.no_grad():
        expected = loaded.model(*inputs.values()).float()
        got = load_source(folder, loaded.kind).model(*inputs.values()).float().numpy()
    return check_outputs("reloaded", shown or folder, got, expected, 0.0)


def export_safetensors(loaded: Loaded, out_dir: Path) -> tuple[Path, float]:
    """Write ``loaded`` as a plain safetensors export, reload it and check it computes the same (exactly).

    Written and checked in a temporary folder, then swapped in: a failure leaves ``out_dir`` as it was.
    """
    kind = KINDS[loaded.kind]
    diff = 0.0

    def fill(tmp: Path) -> None:
        nonlocal diff
        write_export(tmp, kind, loaded.model.state_dict(), loaded.meta)
        diff = verify_reload(loaded, tmp, out_dir)

    replace_folder(out_dir, fill, replaced={kind.weights, kind.meta})
    return out_dir / kind.weights, diff


__all__ = ["export_safetensors", "verify_reload", "DEFAULT_ATOL", "LABEL_INPUT", "RUNTIME_FORMATS", "check_outputs", "export_runtime", "read_onnx_meta",
           "read_torchscript_meta", "run_onnx", "run_torchscript", "save_onnx", "save_torchscript"]
