"""vla_stack: bringup."""
