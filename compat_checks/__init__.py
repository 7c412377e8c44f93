"""The gates: our lint rules, breaking-change classification, and (later) the
compatibility engine and schema registry. All of them report `Finding`s."""
