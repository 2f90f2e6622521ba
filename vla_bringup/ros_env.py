"""Keep every ROS process we start on localhost, on a private domain, with its own ROS_HOME.

FastDDS's default discovery multicasts out of the network interface; the stack must never do that
unless the user asked for it by setting the variables themselves.
"""

import os
import random
import tempfile
from collections.abc import MutableMapping


def isolate_ros_env(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Fill in localhost-only discovery, a private domain id and a temp ROS_HOME where unset.

    Values the user already set are kept (that is how one asks for a wider network). Returns
    the mapping it changed (``os.environ`` by default).
    """
    env = os.environ if env is None else env
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # 10..89: valid for FastDDS's port mapping and away from the common default 0.
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(10, 89)))
    if "ROS_HOME" not in env:
        env["ROS_HOME"] = tempfile.mkdtemp(prefix="vla_ros_home_")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("MUJOCO_GL", "egl")
    return env
