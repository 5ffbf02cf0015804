"""Reports from the results store: comparison tables (``tables``), curves (``plots``), the static site
(``site``) and the published numbers they may sit beside (``published``, its data in ``data/``)."""
