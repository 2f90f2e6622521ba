"""vla_stack: skills."""
