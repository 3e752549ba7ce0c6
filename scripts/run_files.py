"""Reading a pfedhn run directory's files for the plot scripts: one-line errors, exit 2."""
import os
import sys


def fail(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_file(prog, run_dir, name, reader, missing):
    """reader(open file) of RUN_DIR/name; a missing file fails with `missing`, a bad one with
    the reader's error, both naming the file."""
    path = os.path.join(run_dir, name)
    if not os.path.isfile(path):
        fail(prog, missing)
    try:
        with open(path, newline="") as f:
            return reader(f)
    except (ValueError, OSError, KeyError) as e:
        fail(prog, f"cannot read '{path}': {e}")
