"""Where the data lives: the DuckLake catalog, commits, migrations, maintenance."""
