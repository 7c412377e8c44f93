"""The toolchain core: workspace, buf config, settings, tools, the compile step, the
descriptor model and findings. Imports nothing above it (see tests/test_layers.py)."""
