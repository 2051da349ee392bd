"""Production monitoring and the retraining loop (issue #15): drift, realised performance,
thresholds, the report, MLflow logging and the simulated deployment that proves them."""
