from septctl.cli.main import app

app()
