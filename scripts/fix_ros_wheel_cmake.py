"""Point the ROS wheels' exported CMake targets at this interpreter's Python and NumPy headers.

The Kilted wheels were built in a manylinux image and hard-code its include dirs
(/opt/python/cp311-cp311/...); rosidl's Python generator links against those targets, so a
custom interface build fails until they are rewritten (see shared/notes/ros2-wheels.md).
Idempotent: run it after every `pip install ros-*`.
"""

import re
import sys
import sysconfig
from pathlib import Path

import numpy

WHEEL_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
WHEEL_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include"
)


def main(prefix: str) -> int:
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for cmake_file in Path(prefix, "share").glob("*/cmake/*.cmake"):
        text = cmake_file.read_text()
        fixed = WHEEL_NUMPY_INCLUDE.sub(numpy_include, text)
        fixed = WHEEL_PYTHON_INCLUDE.sub(python_include, fixed)
        if fixed != text:
            cmake_file.write_text(fixed)
            changed += 1
    print(f"fix_ros_wheel_cmake: rewrote include dirs in {changed} CMake files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else sys.prefix))
