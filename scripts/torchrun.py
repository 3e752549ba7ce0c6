#!/usr/bin/env python3
"""torchrun for Debian 12's python3-torch 1.13 on Python 3.11.

Plain torchrun there fails at start with "'NoneType' object has no attribute 'get'":
Std.from_str("0") iterates an IntFlag, which no longer yields the zero member on Python 3.11.
This wrapper parses the --redirects/--tee values with Std(int) and runs torch.distributed.run
unchanged. Usage: python3 scripts/torchrun.py --nproc_per_node=2 --no_python pfedhn train ...
"""
import re
import sys

from torch.distributed.elastic.multiprocessing import api


def _from_str(cls, vm):
    if re.fullmatch(r"\d", vm):
        return cls(int(vm))
    return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}


api.Std.from_str = classmethod(_from_str)

from torch.distributed.run import main  # noqa: E402  (after the fix)

if __name__ == "__main__":
    sys.exit(main())
