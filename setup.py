# Metadata and entry points live in setup.cfg, shared with CMakeLists.txt
# (ament_python_install_package).
from setuptools import setup

setup()
