"""The sim node's forward-command input (pure: no ROS): what it accepts, what it refuses, and
the velocity feed-forward it estimates from the commands."""

import numpy as np
import pytest

from vla_sim.node import CommandInput


def test_commands_of_the_wrong_size_or_not_finite_are_refused_and_change_nothing():
    command = CommandInput(["a", "b"])
    assert command.accept([0.1, 0.2], 0.0) is None
    assert "expected 2 values (a, b), got 3" in command.accept([1.0, 2.0, 3.0], 0.01)
    assert "NaN/inf" in command.accept([np.nan, 0.0], 0.02)
    assert "NaN/inf" in command.accept([0.0, -np.inf], 0.03)
    np.testing.assert_allclose(command.positions, [0.1, 0.2])


def test_velocity_feed_forward_spans_the_window_not_one_burst():
    command = CommandInput(["a"])
    command.accept([0.0], 0.0)
    command.accept([0.01], 0.002)  # inside the window: no estimate from a 2 ms difference
    np.testing.assert_allclose(command.velocities, [0.0])
    command.accept([0.02], 0.02)
    np.testing.assert_allclose(command.velocities, [(0.02 - 0.01) / 0.018])


@pytest.mark.parametrize("first,second", [(1e300, -1e300), (-1e308, 1e308)])
def test_absurd_but_finite_commands_give_a_finite_feed_forward(first, second):
    """Overflowing differences once gave an inf velocity that killed the physics loop."""
    command = CommandInput(["a", "b"])
    assert command.accept([first, 0.0], 0.0) is None
    assert command.accept([second, 1.0], 0.05) is None
    assert np.all(np.isfinite(command.velocities))
    np.testing.assert_allclose(command.velocities[1], 1.0 / 0.05)
