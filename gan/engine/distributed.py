"""Multi-process checks: a launch that formed no process group, a peer lost during a collective, and
buffers kept equal across ranks."""
from __future__ import annotations

import os
import re
from typing import Iterable

import torch
from accelerate import Accelerator
from torch import nn

from ..errors import ConfigError, UserError

# Variables by which torchrun / accelerate launch / MPI tell a process how many processes were started.
WORLD_SIZE_VARS = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
RANK_VARS = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")


class LaunchError(ConfigError):
    """Several processes were launched but they do not train together."""


def _launcher_int(names: tuple[str, ...], default: int) -> int:
    """The first of the launcher variables ``names`` that holds an integer, else ``default``."""
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return default


def launched_world_size() -> int:
    """How many processes the launcher says it started (1 when not launched by one)."""
    return _launcher_int(WORLD_SIZE_VARS, 1)


def launched_rank() -> int:
    """This process's global rank as the launcher set it (0 when not launched by one); usable before the Accelerator exists."""
    return _launcher_int(RANK_VARS, 0)


def check_process_group(accelerator: Accelerator) -> None:
    """Stop when the launcher started N processes but the Accelerator sees a different number.

    Without a process group every process would train its own model and write the same run
    directory, so this is an error rather than a warning.
    """
    launched = launched_world_size()
    if launched != accelerator.num_processes:
        raise LaunchError(
            f"the launcher started {launched} processes (WORLD_SIZE={launched}) but they formed a group of "
            f"{accelerator.num_processes} (distributed type {accelerator.distributed_type}); on a CPU-only machine "
            "launch with `torchrun --nproc_per_node N` or `accelerate launch --multi_gpu --num_processes N`"
        )


class CollectiveError(UserError):
    """A collective (all-reduce, barrier, ...) failed because another process stopped answering or died."""


# How gloo words a collective's failure. A peer that stops answering (SIGSTOP, a hung machine) runs into the
# process group's timeout; after one timeout, the next operation on that connection finds the pair closed.
GLOO_TIMEOUT = re.compile(r"Timed out waiting \d+ms for (recv|send) operation|Application timeout caused pair closure")
# A peer that died closed its sockets.
GLOO_PEER_GONE = re.compile(r"connection closed by peer|connection reset by peer|broken pipe|socket closed", re.IGNORECASE)


def collective_error(err: BaseException, rank: int, world: int, timeout_s: int) -> CollectiveError | None:
    """The one-line error for ``err`` when it is a collective of a multi-process run that lost a peer, else None.

    The rank that waited is named; with two processes the one it waited for is known as well.
    """
    text = str(err)
    if world < 2 or not isinstance(err, RuntimeError):
        return None
    who = f"rank {rank} waited for rank {1 - rank}" if world == 2 else f"rank {rank} of {world} waited"
    if GLOO_TIMEOUT.search(text):
        return CollectiveError(f"a collective waited more than {timeout_s}s (train.collective_timeout_s) for the other "
                               f"processes ({who}); a process stopped or died")
    if GLOO_PEER_GONE.search(text):
        return CollectiveError(f"a collective lost its connection to the other processes ({who}); a process stopped or died")
    return None


def needs_cpu_group() -> bool:
    """True when several processes were launched on a machine without CUDA: they must use gloo on CPU."""
    return launched_world_size() > 1 and not torch.cuda.is_available()


@torch.no_grad()
def broadcast_buffers(accelerator: Accelerator, modules: Iterable[nn.Module]) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics, ...) to every rank.

    DDP syncs buffers only at the start of a wrapped forward; forwards of the unwrapped model and
    the last forward of a step leave each rank with statistics of its own shard.
    """
    if accelerator.num_processes == 1:
        return
    for module in modules:
        for buffer in module.buffers():
            torch.distributed.broadcast(buffer.data, src=0)
