"""MLOps: the model registry's accepted shapes, the MLflow adapter, model status and the
`model_status` / `drift_report` tools. The drift statistics themselves live in tools/drift."""
