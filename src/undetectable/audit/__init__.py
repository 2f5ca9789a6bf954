"""The auditor's side: detectors, model populations (the arena), the replication game."""
