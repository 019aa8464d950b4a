"""The corridor lab: the same remittance population over every route into Pakistan (docs/corridor.md).

One module per job: ``model`` (remittances, costs, steps, results; the Route and DomesticLeg seams), ``clock``
(business calendars, a remittance's timeline), ``params`` (the cited inputs), ``rpw_lines`` (RPW's services as
price lines), ``routes/`` (one module per route kind), ``scenario`` (TOML scenarios, shipped in
``scenarios/``), ``lab`` (the run), ``liquidity`` (prefunding and inventory), ``summary``, ``runfile`` (the run
directory), ``report`` with ``report_sections`` and ``report_appendix``. The domestic leg over a real rail is
participants/corridor_rail.py; `rail corridor` is rail/app/corridor_cli.py.
"""
