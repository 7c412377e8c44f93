"""The `contracts` command line: a thin shell over codegen and compat_checks."""
