"""Service reports (issue 12): per agreement and period, the volumes, compliance with the targets, breaches,
backlog, business times, satisfaction, workload and trend; as a page with charts, a print-ready page, CSV and XLSX,
and mailed monthly (`tasks.monthly_service_reports`). The figures: `compute`; the pages: `views`."""
