"""`python -m revwatch.cli`: how `revwatch up` starts its worker (with -P, from the user's directory)."""
from revwatch.cli import main

main(prog_name="revwatch")
