"""Process plumbing, below the data and the engine: how a training process and its workers behave.

- :mod:`.signals`: SIGTERM/SIGINT save at the next step boundary, a repeat exits at once.
- :mod:`.stop`: the process-wide stop request that long hooks poll between batches.
- :mod:`.workers`: dataloader workers forked with SIGTERM blocked, ignoring signals not from their
  main process; their errors as one line; the first item loaded before they fork.
- :mod:`.threads`: CPU threads per process (``train.cpu_threads``).
- :mod:`.cpu_memory`: freed tensor memory kept in the process (glibc malloc settings).
"""
