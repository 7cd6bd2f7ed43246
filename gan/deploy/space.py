"""A Hugging Face Space of an export (``export.py --format space``): the demo as a self-contained folder.

The folder holds ``app.py`` (runs :func:`app_main`: the same app and launcher as ``demo.py``),
``requirements.txt`` (the demo's packages, pinned as the toolkit's own pyproject.toml pins them),
``README.md`` (the Space's front matter, written with ``huggingface_hub``'s ``SpaceCard``),
``model/`` (the hub folder with its model card), ``gan/`` (the toolkit's ``.py`` files: it is not on
PyPI) and, for a segmenter, ``examples/`` (example uploads). It is written in a temporary folder and
checked there before it replaces the Space files of ``--out``: ``python app.py --check`` is run in a
fresh process, must import the copied package and compute what the exported model computes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..formats import replace_folder
from ..names import EXPORT_LICENSE
from ..errors import ExportError
from .source import Loaded, optional_extra

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the gan package that is copied into the Space
PROJECT = "gan-toolkit"
MODEL_DIR, EXAMPLES_DIR, PACKAGE_DIR = "model", "examples", "gan"
APP_FILE, REQUIREMENTS_FILE, README_FILE, ATTRIBUTES_FILE = "app.py", "requirements.txt", "README.md", ".gitattributes"
SPACE_FILES = (APP_FILE, REQUIREMENTS_FILE, README_FILE, ATTRIBUTES_FILE, PACKAGE_DIR, MODEL_DIR, EXAMPLES_DIR)  # what a Space export owns
# The distributions the demo's code path imports (the training ones, Accelerate, W&B, torch-fidelity, are not needed);
# their version specifiers are read from the toolkit's own requirements.
SPACE_DISTRIBUTIONS = ("torch", "numpy", "pillow", "safetensors", "pyyaml", "matplotlib", "huggingface-hub", "gradio")
CHECK_TIMEOUT_S = 600
# Binary files go through Git LFS when the folder is pushed with git (the Hub refuses them otherwise).
GIT_ATTRIBUTES = "*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"
APP_PY = '''"""A Gradio Space of a gan-toolkit {kind}, written by `export.py --format space`.

    pip install -r requirements.txt
    python app.py    # http://127.0.0.1:7860; --host/--port or GRADIO_SERVER_NAME/GRADIO_SERVER_PORT; --share
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the gan package copied beside this file, before any installed one

from gan.deploy.space import app_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(app_main(HERE))
'''


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement line (``Pillow>=10`` -> ``pillow``)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def project_requirements() -> list[str]:
    """The toolkit's requirement lines (core and extras): from the checkout's pyproject.toml, else the installed METADATA."""
    pyproject = PACKAGE_ROOT.parent / "pyproject.toml"
    try:
        import tomllib  # Python >= 3.11; 3.10 reads the installed METADATA instead
    except ImportError:
        tomllib = None
    if tomllib is not None and pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == PROJECT:
            extras = project.get("optional-dependencies", {})
            return list(project.get("dependencies", [])) + [r for reqs in extras.values() for r in reqs]
    for metadata in sorted(PACKAGE_ROOT.parent.glob(f"{PROJECT.replace('-', '_')}-*.dist-info/METADATA")):
        headers = metadata.read_text(encoding="utf-8").split("\n\n", 1)[0].splitlines()  # the README follows the headers
        return [line.split(":", 1)[1].split(";")[0].strip() for line in headers if line.startswith("Requires-Dist:")]
    raise ExportError(f"cannot read the toolkit's requirements: no pyproject.toml or {PROJECT} METADATA beside '{PACKAGE_ROOT}'")


def space_requirements() -> str:
    """``requirements.txt`` of the Space: :data:`SPACE_DISTRIBUTIONS` with the toolkit's own version specifiers."""
    specs = {_name(r): r.replace(" ", "") for r in project_requirements()}
    missing = [d for d in SPACE_DISTRIBUTIONS if d not in specs]
    if missing:
        raise ExportError(f"the toolkit's requirements name no {', '.join(missing)}: cannot pin the Space's requirements.txt")
    return "".join(f"{specs[d]}\n" for d in SPACE_DISTRIBUTIONS)


def copy_package(dest: Path) -> int:
    """Copy the ``.py`` files of the running ``gan`` package into ``dest`` (its layout kept); returns how many."""
    files = [p for p in PACKAGE_ROOT.rglob("*.py") if "__pycache__" not in p.parts]
    for path in files:
        target = dest / path.relative_to(PACKAGE_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return len(files)


def space_card(loaded: Loaded, license_id: str) -> str:
    """The Space's README.md: ``huggingface_hub``'s Space front matter (sdk gradio, app_file, ...) and what the folder holds."""
    import gradio
    from huggingface_hub import SpaceCard, SpaceCardData  # a core dependency (the models' Hub mixin)

    data = (loaded.meta.get("config") or {}).get("data") or {}
    res = loaded.meta["model"].get("resolution")
    what = f"{data.get('name', '?')}, {res}x{res}, step {loaded.meta.get('step')}"
    card = SpaceCardData(
        title=f"gan-toolkit {loaded.kind}", sdk="gradio", sdk_version=gradio.__version__, python_version=f"{sys.version_info[0]}.{sys.version_info[1]}",
        app_file=APP_FILE, license=license_id, tags=[PROJECT, loaded.kind], emoji="🎨", colorFrom="indigo", colorTo="blue", pinned=False,
        short_description=f"gan-toolkit {loaded.kind} demo ({data.get('name', '?')})"[:60],
    )
    body = [f"# gan-toolkit {loaded.kind} ({what})", "",
            "A Gradio demo written by gan-toolkit's `export.py --format space`: `app.py` runs the toolkit's demo on the CPU.", "",
            f"- `{MODEL_DIR}/`: the model (`model.safetensors`, `config.json`) and its model card `{MODEL_DIR}/README.md`",
            f"- `{PACKAGE_DIR}/`: the toolkit's Python sources the app runs (copied: the toolkit is not on PyPI)",
            f"- `{REQUIREMENTS_FILE}`: the packages the demo imports, pinned as the toolkit pins them"]
    if loaded.kind == "segmenter":
        body.append(f"- `{EXAMPLES_DIR}/`: example uploads (images of the embedded shapes dataset at the model's resolution)")
    body += ["", "Run it locally:", "", "```bash", f"pip install -r {REQUIREMENTS_FILE}",
             f"python {APP_FILE}    # http://127.0.0.1:7860 (--port / GRADIO_SERVER_PORT, --host / GRADIO_SERVER_NAME, --share)", "```", "",
             "Publish it as a Gradio Space (`hf auth login` first):", "", "```bash", "hf upload user/my-space . --repo-type space", "```", ""]
    return str(SpaceCard(f"---\n{card.to_yaml()}\n---\n\n" + "\n".join(body)))


def check_output(dm: Any) -> np.ndarray:
    """One output of the demo, computed by the export check both in the exporting process and by the Space's ``app.py --check``."""
    if dm.kind == "generator":
        return dm.samples(0, 4, dm.loaded.label_names[0] if dm.conditional else None)
    return dm.segment(dm.example_images()[0])


def verify_space(loaded: Loaded, folder: Path, shown: Path) -> None:
    """Run ``folder/app.py --check`` in a fresh process: it must import the copied package and match ``loaded`` (uint8 rounding)."""
    from .demo import DemoModel

    with tempfile.TemporaryDirectory(prefix="gan-space-check-") as work:
        result = Path(work) / "check.npy"
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}  # nothing written into the Space
        try:
            done = subprocess.run([sys.executable, str(folder / APP_FILE), "--check", str(result)], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ExportError(f"the Space's {APP_FILE} check did not finish within {CHECK_TIMEOUT_S} s; nothing was written to '{shown}'") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ExportError(f"the Space's {APP_FILE} failed its check (exit {done.returncode}): {last}; nothing was written to '{shown}'")
        package = Path(json.loads(done.stdout.strip().splitlines()[-1])["package"])
        if package != (folder / PACKAGE_DIR).resolve():
            raise ExportError(f"the Space's {APP_FILE} imported the gan package from '{package}', not its own copy; nothing was written to '{shown}'")
        got = np.load(result).astype(np.int16)
    examples = folder / EXAMPLES_DIR
    expected = check_output(DemoModel(loaded, examples if examples.is_dir() else None)).astype(np.int16)
    if got.shape != expected.shape or np.abs(got - expected).max() > 1:
        raise ExportError(f"the Space's {APP_FILE} computes another output than the exported model; nothing was written to '{shown}'")


def write_space(loaded: Loaded, out_dir: Path, license_id: str = EXPORT_LICENSE) -> Path:
    """Write the Space folder of ``loaded`` as ``out_dir`` (checked in a temporary sibling, then swapped in); returns it.

    Other files of ``out_dir`` (e.g. a ``.git`` folder of the Space's repository) are kept.
    """
    from .demo import write_example_images
    from .hub import write_hub_folder

    with optional_extra("gradio", "demo"):  # the check runs the app: a missing extra is reported before any work
        import gradio  # noqa: F401
    requirements = space_requirements()

    def fill(tmp: Path) -> None:
        write_hub_folder(loaded, tmp / MODEL_DIR, license_id)  # reloaded and compared there
        copy_package(tmp / PACKAGE_DIR)
        if loaded.kind == "segmenter":
            (tmp / EXAMPLES_DIR).mkdir()
            write_example_images(tmp / EXAMPLES_DIR, int(loaded.meta["model"]["resolution"]))
        (tmp / REQUIREMENTS_FILE).write_text(requirements)
        (tmp / README_FILE).write_text(space_card(loaded, license_id), encoding="utf-8")
        (tmp / ATTRIBUTES_FILE).write_text(GIT_ATTRIBUTES)
        (tmp / APP_FILE).write_text(APP_PY.format(kind=loaded.kind))
        verify_space(loaded, tmp, out_dir)

    replace_folder(out_dir, fill, replaced=SPACE_FILES)
    return out_dir


def app_main(folder: Path, argv: list[str] | None = None) -> int:
    """The Space's ``app.py``: serve the demo of ``folder/model`` (the launcher of ``demo.py``), or ``--check``."""
    from ..cli import run_cli

    p = argparse.ArgumentParser(description=f"Serve the gan-toolkit demo of {folder / MODEL_DIR}.")
    p.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME, else 127.0.0.1; 0.0.0.0: reachable from other machines)")
    p.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--share", action="store_true", help="also serve through a temporary public link on Gradio's share servers (needs network)")
    p.add_argument("--check", metavar="OUT_NPY", help="build the app without serving, save one output to OUT_NPY (export.py's check)")
    args = p.parse_args(argv)
    examples = folder / EXAMPLES_DIR if (folder / EXAMPLES_DIR).is_dir() else None

    def job() -> int:
        if args.check:
            from .demo import DemoModel, build_app

            dm = DemoModel(folder / MODEL_DIR, examples)
            build_app(dm)
            np.save(args.check, check_output(dm))
            print(json.dumps({"package": str(PACKAGE_ROOT)}))
            return 0
        from .serve import serve_demo

        return serve_demo(folder / MODEL_DIR, args.host, args.port, args.share, examples)

    return run_cli(job)
