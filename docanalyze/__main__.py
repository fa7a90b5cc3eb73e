"""``python -m docanalyze`` runs the command line."""

from docanalyze.cli import main

main()
