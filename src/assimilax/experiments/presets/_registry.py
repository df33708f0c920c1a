"""The presets by name."""

from __future__ import annotations

import difflib

from ._bonavita2020 import BONAVITA2020
from ._brajard2020 import BRAJARD2020
from ._brajard2021 import BRAJARD2021
from ._farchi2021 import FARCHI2021
from ._farchi2021qg import FARCHI2021QG
from ._nonnenmacher2021 import NONNENMACHER2021
from ._preset import Preset
from ._sakov2008 import SAKOV2008
from ._sakov2012 import SAKOV2012
from ._tremolet2006 import TREMOLET2006
from ._wilks2005 import WILKS2005

PRESETS: dict[str, Preset] = {p.name: p for p in (SAKOV2008, SAKOV2012, WILKS2005,
                                                  TREMOLET2006, BRAJARD2020,
                                                  NONNENMACHER2021, BRAJARD2021,
                                                  FARCHI2021, BONAVITA2020, FARCHI2021QG)}
"""Every preset, by name, in the order ``assimilax reproduce --list`` shows them."""


class UnknownPresetError(KeyError):
    """No preset has that name; the message lists the presets."""

    def __str__(self) -> str:
        return str(self.args[0])


def preset_names() -> list[str]:
    """The names of the presets."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        UnknownPresetError: no such preset; the message lists them and suggests the closest.
    """
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UnknownPresetError(
            f"unknown preset {name!r}{hint}; presets: {', '.join(PRESETS)}. "
            "See `assimilax reproduce --list`."
        ) from None
