"""Sphinx configuration of the spexlearn documentation (built offline, warnings as errors)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import spexlearn

project = "spexlearn"
author = "spexlearn developers"
release = spexlearn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
templates_path = ["_templates"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["spexlearn.css"]
# 1,100 px leaves the body 820 px for the figures and tables, and fits a 1,280 px window.
html_theme_options = {"description": "Interactions that drive an LLM's output",
                      "fixed_sidebar": True, "page_width": "1100px", "body_max_width": "none"}
