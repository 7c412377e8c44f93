"""Breaking-change checks: buf breaking plus who each finding breaks."""
