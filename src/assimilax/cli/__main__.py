"""``python -m assimilax.cli``: the ``assimilax`` command."""

from . import main

main()
