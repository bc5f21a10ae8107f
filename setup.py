"""Package discovery that pyproject.toml alone cannot express.

runner/ and plugins/ sit at the top level of the repository (the design card) but are installed
as cb.runner and cb.plugins, so nothing squats the generic names `runner` or `plugins` in
site-packages. Subpackages are found, not listed, so a new folder cannot be forgotten.
"""

from setuptools import find_packages, setup

MAPPED = {"cb.runner": "runner", "cb.plugins": "plugins"}

packages = find_packages(include=["cb", "cb.*"])
for name, folder in MAPPED.items():
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir={"cb": "cb", **MAPPED})
