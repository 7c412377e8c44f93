"""Code generation from the compiled image: `contracts gen` targets (Python, Go,
JSON Schema), the templated Go clients, and the no-op stamp. Imports only
`contracts_core` (see tests/test_layers.py)."""
