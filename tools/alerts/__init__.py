"""AIOps: alert ingestion (parsers to one `Alert`), template mining, correlation into incidents."""
