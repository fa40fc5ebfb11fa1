"""Training on several processes (``accelerate launch`` / ``torchrun``): who writes, and the batch each takes.

A multi-process run gives the same student as one process: ``--batch-size`` is the batch of one optimizer
step, split evenly over the processes (each sees ``batch_size / processes`` items a step, and the Trainer's
data loader hands process ``r`` every ``r``-th slice of the same seeded shuffle), gradients are averaged,
held-out scores are gathered from every process before model selection and early stopping (so every process
takes the same decision), and only the main process writes checkpoints, the student, its card and the reports.
Every process seeds with ``--seed``, so the train / held-out split and the shuffle are the same everywhere.

Launch with ``torchrun --nproc-per-node N -m llmkd.finetune -- --run DIR ...`` (the ``--`` keeps torchrun from
reading ``--run`` as its own ``--run-path``), on CPU or GPU, or with ``accelerate launch --multi_gpu
--num_processes N -m llmkd.finetune --run DIR ...``. Without CUDA the processes train on the CPU over gloo.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from llmkd.errors import ConfigError


def world_size() -> int:
    """Number of processes of this run (``WORLD_SIZE``, set by ``accelerate launch`` and ``torchrun``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on the process that writes files (rank 0, or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def per_process_batch(batch_size: int) -> int:
    """The share of ``--batch-size`` each process takes a step.

    Raises:
        ConfigError: the batch does not split evenly over the processes.
    """
    processes = world_size()
    if batch_size % processes:
        raise ConfigError(
            f"--batch-size {batch_size} does not split over {processes} processes; "
            f"pass a multiple of {processes} (it is the batch of one optimizer step, over all processes)"
        )
    return batch_size // processes


def on_cpu_only() -> bool:
    """True for a multi-process run without CUDA: the processes then join a gloo group on the CPU
    (accelerate treats several processes without ``cpu=True`` as independent single-process runs)."""
    return world_size() > 1 and not torch.cuda.is_available()


def start() -> None:
    """Join the process group of a multi-process launch now (the Trainer would later, with the same
    settings), so the processes can wait for each other before training; nothing for one process."""
    if world_size() > 1 and not dist.is_initialized():
        from accelerate import PartialState

        PartialState(cpu=on_cpu_only())


def wait_for_all() -> None:
    """Barrier across the processes of a multi-process run; nothing for one process."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def finish() -> None:
    """Leave the process group of a multi-process run; nothing for one process. Gloo's worker threads
    must stop before the interpreter exits, or a process can abort at exit (``terminate called without an
    active exception``) after a run that succeeded."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
