"""What a figure means and everything that shows it.

- `catalogue.py`: every figure's name, unit, help text and threshold.
- `figures/`: the one query behind each figure (pages, `revwatch show`, the exporter and the
  weekly report all call these; none holds SQL of its own).
- `actions/`: what people do (break workflow, building and sending the report).
- `clients/`: other servers we talk to (Prometheus, Alertmanager, SMTP).
- `faces/`: ways a figure reaches people or machines other than the pages (`/metrics`, the
  CLI's `show`, CSV and Excel exports, the weekly report).

Imports run faces → actions → figures → plumbing (`revwatch`); tests/test_imports.py checks it.
"""
