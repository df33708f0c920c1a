"""What a directory holds, for the commands that read one (``show``, ``plot``).

One place decides: a sweep (``sweep.zarr``), a reproduction of a preset
(``preset.json``) or a run (``summary.json`` or ``results.nc``), in that order.
"""

import enum
from pathlib import Path

from ..io import names, sweep_store


class Holds(enum.Enum):
    """The kinds of directory the commands write."""

    SWEEP = "sweep"
    REPRODUCTION = "reproduction"
    RUN = "run"


class NotAResultDirectory(ValueError):
    """The directory does not exist, is a file, or holds none of the kinds."""


def what_it_holds(directory: Path) -> Holds:
    """The kind of ``directory``.

    Raises:
        NotAResultDirectory: with a message that says which of the three it is not.
    """
    if (directory / sweep_store.STORE).exists():
        return Holds.SWEEP
    if (directory / names.PRESET_FILE).is_file():
        return Holds.REPRODUCTION
    if (directory / names.SUMMARY_FILE).is_file() or (directory / names.RESULTS_FILE).is_file():
        return Holds.RUN
    if not directory.exists():
        raise NotAResultDirectory(f"{directory} does not exist")
    if not directory.is_dir():
        raise NotAResultDirectory(f"{directory} is not a directory")
    raise NotAResultDirectory(
        f"{directory} holds neither a run ({names.SUMMARY_FILE}, {names.RESULTS_FILE}), "
        f"a sweep ({sweep_store.STORE}) nor a reproduction ({names.PRESET_FILE})")
