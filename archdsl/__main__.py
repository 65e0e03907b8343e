from archdsl.cli import run

run()
