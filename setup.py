"""Compiles the gettext catalogues into the built package (the rest is in pyproject.toml).

``pip install`` (a wheel) gets each translations/<lang>/LC_MESSAGES/messages.mo made
here from its .po with Babel; an editable install compiles them on the app's first
start instead (landingpad.web.i18n.ensure_compiled).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path(self.build_lib, "landingpad", "translations").glob(
                "*/LC_MESSAGES/messages.po"):
            with po.open("rb") as handle:
                catalog = read_po(handle)
            with po.with_suffix(".mo").open("wb") as handle:
                write_mo(handle, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
