"""Other processes of this machine, as far as the tool needs to know them."""

from __future__ import annotations

import os


def exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0 sends nothing, it only asks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: it exists
        return True
    return True
