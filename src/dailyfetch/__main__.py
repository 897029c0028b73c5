"""``python -m dailyfetch`` works like the ``dailyfetch`` command."""

from dailyfetch.cli import main

main()
