"""State in SQLite: the connection and its transactions (db), the schema (migrations), and the
queries that turn rows into models (queries). Nothing here knows Typer, Rich or the engine."""
