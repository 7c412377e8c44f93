"""inference: serves fleet.inference.v1.InferenceService, an inference server on contracts-runtime."""
