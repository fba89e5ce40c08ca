"""DORA's five delivery metrics (dora.dev guide) over the delivery store."""
