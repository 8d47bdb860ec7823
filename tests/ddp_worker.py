"""Run by tests/test_ddp.py under torchrun: train.py's main, then each process writes a fingerprint of its
final model parameters and mixer weights, so the test can check that every process ends identical.

Automatic garbage collection is off, so a DDP wrapper that train.py left for the collector would live until
interpreter exit, where gloo aborts the process (in CI this happened by chance): main must free it itself,
and each process reports how many DDP wrappers are still alive after main."""

import gc
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import train  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

if __name__ == "__main__":
    gc.disable()
    argv = sys.argv[1:]
    result = train.main(argv)
    params = b"".join(p.detach().cpu().numpy().tobytes() for p in result["model"].state_dict().values())
    out_dir = argv[argv.index("--out_dir") + 1]
    with open(os.path.join(out_dir, f"rank{os.environ.get('RANK', '0')}.json"), "w") as f:
        json.dump({"params": hashlib.sha256(params).hexdigest(),
                   "weights": [float(x) for x in result["mixer"].weights()],
                   "ddp_wrappers_alive": sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects())}, f)
