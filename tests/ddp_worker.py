"""Run by tests/test_ddp.py under torchrun: train.py's main, then each process writes a fingerprint of its
final model parameters and mixer weights, so the test can check that every process ends identical."""

import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import train  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    result = train.main(argv)
    params = b"".join(p.detach().cpu().numpy().tobytes() for p in result["model"].state_dict().values())
    out_dir = argv[argv.index("--out_dir") + 1]
    with open(os.path.join(out_dir, f"rank{os.environ.get('RANK', '0')}.json"), "w") as f:
        json.dump({"params": hashlib.sha256(params).hexdigest(),
                   "weights": [float(x) for x in result["mixer"].weights()]}, f)
