"""The bureaus' documents: the monthly bulletin (月报) and the annual assessment (年度考核), made from
the warehouse by the pipeline's own rule functions and laid out in the bureaus' table forms as
XLSX, HTML and PDF.

- reading.py: what a document reads (valid day values by the nightly day rules, city air days,
  coastal samples), the data's status and lineage, month by month.
- water.py, air.py: the figures, each through pipelines.assessment (no rule is written twice).
- bulletin.py, annual.py: the tables with their official headings, and the header.
- document.py: the document the renderers take; render_xlsx.py, render_html.py, render_pdf.py.
- publish.py: producing them on demand (`envmon bulletin`, `envmon assessment-report`) and from the
  monthly DAG (dags/envmon_monthly.py), with a manifest of what each issue read.
"""
