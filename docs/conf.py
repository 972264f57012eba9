"""Sphinx configuration of the numbadrop documentation.

Build with ``make -C docs html`` or, as CI does,
``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numbadrop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # contract_mask.py, figures/
os.environ.setdefault("MPLBACKEND", "Agg")

# -- project ----------------------------------------------------------------
project = "numbadrop"
author = "The numbadrop developers"
copyright = "The numbadrop developers"
release = numbadrop.__version__
version = ".".join(release.split(".")[:2])

# -- extensions -------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "examples",
    "perf",
    "figures",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "**.zip",
    "autodiff_table.rst",  # included by autodiff.rst
]
default_role = "autolink"
pygments_style = "sphinx"
nitpicky = False

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # the numpydoc sections say the types
autoclass_content = "class"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- plot directive (drawings made with matplotlib at build time) ------------
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]


# -- sphinx-gallery -----------------------------------------------------------
class GalleryOrder:
    """Sort key of the gallery: from masks to training, not alphabetical."""

    ORDER = (
        "plot_dropout_masks.py",
        "plot_keep_rate.py",
        "plot_training_curves.py",
        "plot_mc_dropout.py",
        "plot_torch_digits.py",
    )

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        return (self.ORDER.index(filename) if filename in self.ORDER else len(self.ORDER), filename)

    def __repr__(self) -> str:  # stable, so that Sphinx does not rebuild everything each time
        return "GalleryOrder"


sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "conf.GalleryOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "show_memory": False,
    "matplotlib_animations": False,
    "image_srcset": [],
    "reset_modules": ("matplotlib",),
}

# -- HTML -------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"numbadrop {release}"
html_static_path = ["_static"]
html_css_files = ["numbadrop.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "navbar_persistent": [],
    "navbar_end": ["search-button", "theme-switcher"],
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # gallery pages: no right-hand sidebar, so that figures get the width (exact names: no warnings)
    "secondary_sidebar_items": {
        "**": ["page-toc"],
        **{f"auto_examples/{name.removesuffix('.py')}": [] for name in GalleryOrder.ORDER},
        "performance": [],  # wide tables
    },
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "getting_started": [], "contract": [], "autodiff": [], "performance": ["page-toc"]}
html_context = {"default_mode": "light"}
