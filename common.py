"""
The plumbing every file may import, and nothing else: the errors a user sees, the command-line parser, and
writes that never leave a half-written file.

    raise DataError("... the fix")     # every user-facing error is a UserError: one line, no traceback
    write_json_atomic(path, obj)       # a temp file beside `path`, then a rename
    save_atomic(obj, path)             # the same for torch.save (checkpoints, agents, policies)
"""

import argparse
import json
import os
import sys

import torch


# ----------------------------------------------------------------------------- the errors a user sees

class UserError(Exception):
    """A problem the user can fix; its message names the thing and the fix. The command-line entry points print
    it as one line (error: ...) instead of a traceback."""


class ConfigError(UserError):
    """An option value that cannot work."""


class DataError(UserError):
    """A problem with a corpus, a weight vector or a file a mixer reads."""


class PrepareError(UserError):
    """A problem with the inputs of a corpus (prepare.py)."""


class TokenFileError(UserError):
    """A token file with a wrong or damaged header."""


class CheckpointError(UserError):
    """A missing, damaged, unsafe or mismatched checkpoint."""


class TrainingError(UserError):
    """Training cannot go on (a non-finite loss, runs that failed)."""


class FolderInUse(UserError):
    """Another process is writing into the folder."""


# ----------------------------------------------------------------------------- the command line

class Parser(argparse.ArgumentParser):
    """argparse with a short error: the one line that matters and where to look, not ~30 lines of usage.
    Every script's command line goes through it; a module of a package (the lab: python -m experiments.suite)
    is named by the command that runs it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --resum is a typo, not --resume
        super().__init__(*args, **kwargs)
        folder = os.path.dirname(os.path.abspath(sys.argv[0]))
        if self.prog.endswith(".py") and os.path.exists(os.path.join(folder, "__init__.py")):
            self.prog = f"python -m {os.path.basename(folder)}.{self.prog[:-3]}"
        self.command = self.prog if self.prog.startswith("python") else f"python {self.prog}"

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n({self.command} --help lists every option)\n")


# ----------------------------------------------------------------------------- files

def write_text_atomic(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json_atomic(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=1))


def save_atomic(obj, path):
    """torch.save to a temp file beside `path`, then rename: a crash leaves the old file or the new one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def read_json(path, what):
    """A cached JSON file of ours; a damaged one is named with the way out (delete it, it is rebuilt)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{what} in {path} is damaged ({type(e).__name__}); delete that file and rerun: "
                        "it is computed again") from None
