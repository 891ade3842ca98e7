"""The console's pages: each module gives its routes (`routes(console)`)."""
