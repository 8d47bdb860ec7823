"""
Several processes: a torchrun group training one model (DDP), and runs that must not share a folder.

Under torchrun every process runs the same script. All processes draw the same global batch of
batch_size x world rows (their samplers are identical) and each trains on its own strided share;
rank 0's weights are broadcast every step; per-domain losses, AC-ODM's per-domain gradients and
validation losses are all-reduced; only rank 0 writes files and prints.
"""

import fcntl
import os
from contextlib import contextmanager

import torch
import torch.distributed as dist

from common import FolderInUse


def setup_distributed(device):
    """Join the process group when started by torchrun (WORLD_SIZE > 1); returns (rank, world, this process'
    device: cuda:LOCAL_RANK for a cuda device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank(), world, device


def is_main_process():
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier():
    if dist.is_initialized():
        dist.barrier()


def broadcast_weights(w, device):
    """Rank 0 decides the weights; every process trains under exactly the same vector."""
    if not dist.is_initialized():
        return w
    tensor = torch.tensor(w, dtype=torch.float64, device=device)
    dist.broadcast(tensor, 0)
    return tensor.cpu().numpy()


@contextmanager
def folder_lock(folder, what):
    """Hold an OS lock on `.<folder name>.lock` beside folder while this process writes into it: a second
    run on the same folder is refused. The OS releases the lock when the process ends, however it ends,
    so a killed run blocks nobody; its lock file is reused and removed by the next holder. Only the main
    process of a torchrun group takes it."""
    if not is_main_process():
        yield
        return
    parent, name = os.path.split(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    path = os.path.join(parent, f".{name}.lock")
    while True:
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise FolderInUse(f"{what} {folder} is in use by another process (pid {holder}); wait for it to "
                              "finish, or write elsewhere (another --run_name or --out_dir)") from None
        if os.path.exists(path) and os.stat(path).st_ino == os.fstat(f.fileno()).st_ino:
            break
        f.close()  # its holder removed the file after we opened it: lock the current one
    try:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield
    finally:
        os.remove(path)  # while still holding it, so no one else holds a removed file
        f.close()
