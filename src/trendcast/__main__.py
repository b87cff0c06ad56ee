"""``python -m trendcast``: the same as the ``trendcast`` command."""

from trendcast.cli.main import app

app(prog_name="trendcast")
