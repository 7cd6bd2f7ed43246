"""Shared command-line plumbing: user errors become one line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from typing import Any, Callable, NoReturn

from .config import to_yaml
from .errors import UserError


# The scripts' source argument also takes this (resolved by gan.formats.resolve.resolve_source).
REPO_ID_HELP = "a Hub repo id (user/name, optionally @revision; fetched through the Hub cache, which HF_HUB_OFFLINE=1 keeps to)"


def fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def exit_process(code: int) -> NoReturn:
    """End a command-line script with exit ``code``, skipping the interpreter's final garbage collection.

    At exit CPython runs full collections over every object of every imported module (torch and the
    compiler stack its optimizers import, matplotlib), to free memory the OS takes back anyway
    (its cost: ``docs/benchmarks.md``, "Figures behind choices in the code"). ``gc.freeze()`` hides
    those objects from the collector; atexit handlers still run, and the jobs close their files and
    trackers before they return.
    Only for ``__main__``: a test calling ``main()`` keeps its normal collector.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # A rank of a multi-process launch ends without interpreter finalisation: there the gloo
        # process group's threads, still referenced by the DDP-wrapped models, were destroyed
        # unjoined and aborted the process ("terminate called without an active exception", exit -6)
        # in some two-process CPU runs. The job has written its files, closed its tracker and
        # destroyed the process group by now; dataloader workers exit when their parent is gone.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    gc.freeze()
    sys.exit(code)


def run_cli(job: Callable[[], int]) -> int:
    """Run ``job``; user errors (:class:`gan.errors.UserError`) print one line instead of a traceback."""
    try:
        return job()
    except UserError as err:
        return fail(str(err))
    except FileNotFoundError as err:
        return fail(f"file not found: {err.filename or err}")


def config_main(doc: str, load: Callable[[str | None, list[str]], Any], run: Callable[[Any], int], argv: list[str] | None = None,
                *, example: str) -> int:
    """The ``--config FILE [--dry-run] key=value ...`` command shared by the training scripts.

    ``load(path, overrides)`` builds the checked config; ``run(cfg)`` does the job and returns the
    exit code. ``--dry-run`` prints the resolved config instead (the defaults without ``--config``).
    Training needs ``--config`` (``example`` is named in the error): a run of the bare defaults is
    rarely what was meant.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help=f"YAML config file (see configs/, e.g. {example}); required except with --dry-run")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.steps=200")
    args = parser.parse_intermixed_args(argv)  # options may follow overrides: `... key=value --dry-run key=value`

    def job() -> int:
        if args.config is None and not args.dry_run:
            raise UserError(f"--config is required, e.g. --config {example}")
        cfg = load(args.config, args.overrides)
        if args.dry_run:
            print(to_yaml(cfg), end="")
            return 0
        return run(cfg)

    return run_cli(job)
