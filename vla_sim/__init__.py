"""MuJoCo simulation backend: scene files, the world, ground-truth goal checks."""
