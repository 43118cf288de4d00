from septctl.cli.main import run

run()
