from tfkd.cli import run

run()
