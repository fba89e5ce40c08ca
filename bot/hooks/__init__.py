"""HTTP webhook receivers: parse, validate, persist, then answer. One module per domain."""
