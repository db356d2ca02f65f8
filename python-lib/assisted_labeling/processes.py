"""Other processes of this machine, as far as the tool needs to know them."""

from __future__ import annotations

import os


def exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0 sends nothing, it only asks). Where
    signals are not POSIX's (Windows: signal 0 is Ctrl+C), assumed to."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # someone else's process, or no pid at all
        return True
    return True
