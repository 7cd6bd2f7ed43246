"""A web demo of a trained model (Gradio, CPU): sample grids by seed, interpolation, segmentation overlays.

    python demo.py runs/quickstart                    # a run, export/, best/, checkpoint or hub folder
    python demo.py my-gan/ --port 7861 --host 0.0.0.0
    python demo.py user/my-gan                        # a Hub repo id (through the Hub cache)
    python demo.py runs/quickstart --share            # also a temporary public https://*.gradio.live link

Needs the optional extra: pip install -e ".[demo]".
"""
from __future__ import annotations

import argparse
import sys

from gan.cli import REPO_ID_HELP, run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="run, export/, best/, checkpoint-<step> or hub folder, or " + REPO_ID_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: reachable from other machines)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true",
                   help="also serve through a temporary public link on Gradio's share servers (needs network; anyone with the "
                        "link can use it); no link is an error")
    args = p.parse_args(argv)

    def job() -> int:
        from gan.deploy.serve import serve_demo

        return serve_demo(args.source, args.host, args.port, args.share)

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
