from screening.cli import app

app(prog_name="screening")
