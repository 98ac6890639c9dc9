"""Processes for the training loops (the codec's and the refiner's): one CPU process, or
several under `torchrun` (PyTorch DDP: NCCL on GPUs, gloo on CPUs)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment; one CPU process without it.

    Under torchrun the process joins a process group even when it is the only one, so that a
    one-GPU run exercises the NCCL path a multi-GPU run takes.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if (world > 1 or "TORCHELASTIC_RUN_ID" in os.environ) and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
        if rank == 0:
            print(f"process group: {backend}, {world} process(es)", flush=True)
    return rank, world, device


def teardown_distributed() -> None:
    """Wait for every process and leave the process group, if there is one."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
